"""Data: fingerprints, profiles, drift checks and expectations of the inputs a run used."""
