"""calcisvd: intracranial artery calcification and small-vessel disease, scans to statistics."""

__version__ = "0.1.0"
