"""Using a finished run: `ftrun predict` (new texts), `ftrun eval` (another data set, `rescore`),
`ftrun export` (ONNX and int8, checked against PyTorch) and `ftrun serve` (HTTP with dynamic batching)."""
