"""The examples a run trains and is scored on: any source (local files, the embedded sets, the hub) read
into train, validation and eval splits of texts and label ids (`loading.load_data`).
"""
