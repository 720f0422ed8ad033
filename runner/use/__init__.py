"""Using a finished run: `ftrun predict` (new texts) and `ftrun eval` (another data set, `rescore`)."""
