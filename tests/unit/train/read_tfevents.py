#!/usr/bin/python3
"""An independent reader of TensorBoard event files, for tomograd's tests.

Reads every record (uint64 LE length, masked CRC-32C of the length, data, masked CRC-32C of the
data; TensorFlow's record_writer.cc), checks both CRCs with its own CRC-32C, decodes each Event
with Debian's python3-protobuf using message definitions written here from TensorFlow's
event.proto and summary.proto (not from tomograd's .proto), decodes PNG images with zlib, and
prints JSON:
  {"file_version": str, "records": n,
   "scalars": [[tag, step, value], ...],
   "images": [{"tag", "step", "height", "width", "colorspace", "pixels": [...flat bytes...]}]}
Exits 1 with one line on stderr for any malformed record.
"""
import json
import struct
import sys
import zlib

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_class():
    """tensorflow.Event with the Summary fields of summary.proto that carry scalars and images."""
    F = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="reader_event.proto", package="tfreader", syntax="proto3")

    def add(msg, name, number, ftype, type_name=None, label=F.LABEL_OPTIONAL, oneof=None):
        field = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = oneof

    summary = f.message_type.add(name="Summary")
    image = summary.nested_type.add(name="Image")
    add(image, "height", 1, F.TYPE_INT32)
    add(image, "width", 2, F.TYPE_INT32)
    add(image, "colorspace", 3, F.TYPE_INT32)
    add(image, "encoded_image_string", 4, F.TYPE_BYTES)
    value = summary.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    add(value, "node_name", 7, F.TYPE_STRING)
    add(value, "tag", 1, F.TYPE_STRING)
    add(value, "simple_value", 2, F.TYPE_FLOAT, oneof=0)
    add(value, "obsolete_old_style_histogram", 3, F.TYPE_BYTES, oneof=0)
    add(value, "image", 4, F.TYPE_MESSAGE, ".tfreader.Summary.Image", oneof=0)
    add(summary, "value", 1, F.TYPE_MESSAGE, ".tfreader.Summary.Value", label=F.LABEL_REPEATED)
    event = f.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    add(event, "wall_time", 1, F.TYPE_DOUBLE)
    add(event, "step", 2, F.TYPE_INT64)
    add(event, "file_version", 3, F.TYPE_STRING, oneof=0)
    add(event, "graph_def", 4, F.TYPE_BYTES, oneof=0)
    add(event, "summary", 5, F.TYPE_MESSAGE, ".tfreader.Summary", oneof=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("tfreader.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def decode_png(data, where):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(where + ": image is not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) != crc:
            raise ValueError(where + ": PNG chunk %r has a bad CRC" % ctype)
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, _ = ihdr
    channels = {0: 1, 2: 3, 6: 4}[color]
    if depth != 8:
        raise ValueError(where + ": PNG bit depth %d" % depth)
    raw = zlib.decompress(idat)
    row = width * channels
    pixels = []
    for y in range(height):
        line = raw[y * (row + 1):(y + 1) * (row + 1)]
        if line[0] != 0:
            raise ValueError(where + ": PNG filter %d not handled by this reader" % line[0])
        pixels.extend(line[1:])
    return width, height, channels, pixels


def main(path):
    Event = event_class()
    data = open(path, "rb").read()
    pos, n = 0, 0
    out = {"file_version": None, "records": 0, "scalars": [], "images": []}
    while pos < len(data):
        where = "%s: record %d at byte %d" % (path, n, pos)
        if pos + 12 > len(data):
            raise ValueError(where + ": truncated header")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != len_crc:
            raise ValueError(where + ": length CRC mismatch")
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if len(body) != length or masked(body) != body_crc:
            raise ValueError(where + ": data CRC mismatch")
        event = Event()
        event.ParseFromString(body)
        if event.WhichOneof("what") == "file_version":
            out["file_version"] = event.file_version
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                out["scalars"].append([v.tag, event.step, v.simple_value])
            elif kind == "image":
                w, h, c, pixels = decode_png(v.image.encoded_image_string, where)
                if (w, h) != (v.image.width, v.image.height) or c != v.image.colorspace:
                    raise ValueError(where + ": image size/colorspace disagree with the PNG")
                out["images"].append({"tag": v.tag, "step": event.step, "height": h, "width": w,
                                      "colorspace": c, "pixels": pixels})
        pos += 16 + length
        n += 1
    out["records"] = n
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as e:  # one line, for the test's message
        print("read_tfevents: %s" % e, file=sys.stderr)
        sys.exit(1)
