"""The data custodian's tools: checking a dataset folder (``folder_check``, with the folder
layouts the registry knows in ``layouts``), protecting it into a copy in the same layout
(``protect``, with ``nifti_io``, ``budget_fit``, ``manifest`` and the one error they raise,
``errors``), exporting a dataset as a decathlon folder (``export``)."""
