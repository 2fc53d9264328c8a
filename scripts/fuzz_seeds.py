"""Seed inputs for the pickle and safetensors fuzzing harnesses (run by scripts/fuzz.sh with
Debian's /usr/bin/python3): the data.pkl of real torch.save files (zip and legacy format) when
python3-torch is installed, plain pickles of the containers a state dict uses, and safetensors
files laid out as the format's README describes; with a third folder, whole torch.save zip
archives (as written, and re-zipped deflated) for the zip harness."""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

pickle_dir, safetensors_dir = sys.argv[1], sys.argv[2]
zip_dir = sys.argv[3] if len(sys.argv) > 3 else None


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


state = collections.OrderedDict([("conv1.weight", [[1.0, 2.0]]), ("bn1.num_batches_tracked", 7)])
for proto in (2, 4):
    write(pickle_dir, "plain_p%d.pkl" % proto, pickle.dumps(state, protocol=proto))
    write(pickle_dir, "nested_p%d.pkl" % proto, pickle.dumps({"a": [1, (2.5, "x")], "b": {3: None, 4: True}}, protocol=proto))

try:
    import torch

    tensors = collections.OrderedDict(
        [("conv1.weight", torch.arange(12, dtype=torch.float32).reshape(3, 4)),
         ("fc.bias", torch.zeros(2, dtype=torch.float64)),
         ("bn.num_batches_tracked", torch.tensor(5))])
    tensors["view"] = tensors["conv1.weight"][:, 1]
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        for name in z.namelist():
            if name.endswith("data.pkl"):
                write(pickle_dir, "torch_zip_data.pkl", z.read(name))
    if zip_dir:
        write(zip_dir, "torch_save.pth", buffer.getvalue())
        deflated = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z, \
                zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as out:
            for info in z.infolist():
                out.writestr(info.filename, z.read(info.filename))
        write(zip_dir, "torch_save_deflated.pth", deflated.getvalue())
    legacy = io.BytesIO()
    torch.save(tensors, legacy, _use_new_zipfile_serialization=False)
    write(pickle_dir, "torch_legacy.pth", legacy.getvalue())
    params = collections.OrderedDict([("w", torch.nn.Parameter(torch.ones(2)))])
    buffer = io.BytesIO()
    torch.save(params, buffer)
    if zip_dir:
        write(zip_dir, "torch_save_parameter.pth", buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        for name in z.namelist():
            if name.endswith("data.pkl"):
                write(pickle_dir, "torch_parameter_data.pkl", z.read(name))
except ImportError:
    print("fuzz_seeds.py: no torch in /usr/bin/python3; pickle seeds without tensors", file=sys.stderr)


def safetensors(entries, metadata=None):
    header, data, offset = {}, b"", 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


write(safetensors_dir, "two.safetensors",
      safetensors([("weight", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                   ("bias", "I64", [3], struct.pack("<3q", 7, -1, 1 << 40))], {"format": "pt"}))
write(safetensors_dir, "empty.safetensors", safetensors([("e", "BF16", [0, 3], b"")]))
write(safetensors_dir, "scalar.safetensors", safetensors([("s", "U8", [], b"\x05")]))
