#!/usr/bin/python3
"""Reads Secondary Capture results and their source series with pydicom, for tomograd's tests.

Usage: read_dicom_sc.py SOURCE_DIR SC_FILE... ; prints JSON
  {"source": {path relative to SOURCE_DIR (searched recursively):
              {"sop_class", "sop_instance", "study", "series", "instance_number", "position"}},
   "sc": [{"sop_class", "sop_instance", "study", "series", "modality", "patient_id", "patient_name",
           "birth_date", "sex", "accession", "study_date", "burned_in", "image_type", "photometric",
           "rows", "cols", "samples", "references": [[class, instance], ...],
           "identifying": [keywords of non-empty patient/study attributes beyond the linkage],
           "pixel": {"y,x": [r, g, b]} for a few positions}]}
"""
import json
import os
import sys

import pydicom

# Patient and study attributes a result may carry only empty (PatientID and StudyInstanceUID
# are the linkage and are expected).
IDENTIFYING = ["PatientName", "PatientBirthDate", "PatientSex", "PatientAge", "OtherPatientIDs",
               "PatientAddress", "AccessionNumber", "StudyDate", "StudyTime", "ReferringPhysicianName",
               "InstitutionName", "StudyDescription", "StudyID", "PatientComments"]


def main(source_dir, sc_files):
    out = {"source": {}, "sc": []}
    for root, _, names in sorted(os.walk(source_dir)):
        for name in sorted(names):
            path = os.path.join(root, name)
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            position = ds.get("ImagePositionPatient")
            out["source"][os.path.relpath(path, source_dir)] = {
                "sop_class": ds.SOPClassUID, "sop_instance": ds.SOPInstanceUID, "study": ds.StudyInstanceUID,
                "series": ds.SeriesInstanceUID, "instance_number": int(ds.get("InstanceNumber", 0)),
                "position": [float(v) for v in position] if position is not None else None}
    for f in sc_files:
        ds = pydicom.dcmread(f)
        px = ds.pixel_array
        rows, cols = int(ds.Rows), int(ds.Columns)
        probes = [(rows - 2, cols - 2), (rows // 2, cols // 2), (2, 2)]
        out["sc"].append({
            "sop_class": ds.SOPClassUID, "sop_instance": ds.SOPInstanceUID,
            "study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID, "modality": ds.Modality,
            "patient_id": ds.PatientID, "patient_name": str(ds.PatientName),
            "burned_in": ds.get("BurnedInAnnotation", ""), "image_type": list(ds.ImageType),
            "photometric": ds.PhotometricInterpretation, "rows": rows, "cols": cols,
            "samples": int(ds.SamplesPerPixel), "shape": list(px.shape),
            "instance_number": int(ds.get("InstanceNumber", 0)), "comment": str(ds.get("ImageComments", "")),
            "references": [[r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID] for r in ds.SourceImageSequence],
            "identifying": [k for k in IDENTIFYING if k in ds and str(ds.get(k, "")) != ""],
            "pixel": {"%d,%d" % p: [int(v) for v in px[p[0], p[1]]] for p in probes},
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2:])
    except Exception as e:
        print("read_dicom_sc: %s" % e, file=sys.stderr)
        sys.exit(1)
