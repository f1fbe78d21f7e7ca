"""Scans from a hospital PACS: a DICOM Storage SCP (push) and a DICOMweb pull, into drop/."""
