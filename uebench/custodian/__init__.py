"""The data custodian's tools: protecting a NIfTI folder in place of its files, exporting a
dataset."""
