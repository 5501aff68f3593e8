"""Running one spec, from dataset to record.

``pipeline`` (RunSpec, resolve, Pipeline: the one way data flows), ``stages`` (what
identifies each stage), ``store`` (the content-addressed stage cache, atomic writes), ``data``
(dataset resolution, fingerprints, the split), ``training`` (seeded training of victims and
surrogates), ``evaluation`` (DSC, HD95, NSD on the clean test split), ``fidelity`` (norms,
PSNR, SSIM of the stored delta), ``defense_chain`` (a run's defense spec and the chain that
applies it), ``released`` (a custodian's release measured as the pseudo-method
``released``), ``environment`` (versions, device, git state, plugin origins), ``progress``
(progress bars that honour ``--quiet``) and ``calibration`` (the workload run times are
divided by)."""
