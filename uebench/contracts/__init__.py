"""The plugin contracts: what a method, victim, dataset, defense or preset is, and how one is
found and checked.

``core`` (Case, Preset, RunContext and the Method / Victim / Dataset / Defense bases),
``registry`` (name -> plugin registries, entry points), ``budget`` (the threat model: clamp,
budget check, storage, re-check), ``params`` (typed plugin parameters from the command line),
``presets`` (the built-in presets), ``scaling`` (the scale study's axes and their presets),
``folders`` (the NIfTI folder-layout contract:
``NiftiFolder``, ``FolderLayout``, the readers every layout shares) and ``conformance`` (the
kits ``check_method``, ``check_victim``, ``check_defense``, ``check_dataset``)."""
