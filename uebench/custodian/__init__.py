"""The data custodian's tools: checking a dataset folder (``folder_check``), protecting it
into a copy in the same layout (``protect``, with ``nifti_io``, ``budget_fit`` and
``manifest``), exporting a dataset as a decathlon folder (``export``)."""
