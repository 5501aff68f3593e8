"""The plugin contracts (Method, Victim, Dataset, Defense, Preset), their registries, the threat
model and the conformance kits."""
