"""Plain helpers shared by the benchmarks and the tests (no pytest): fixtures that write
inputs (DICOM studies, hostile drops, fake studies), start services (Orthanc, the PACS
receiver) or run the command line. They live here, not under ``tests/``, so that ``bench/``
never imports the test suite."""
