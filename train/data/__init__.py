"""Synthetic factory-scene data for tav-edge: attribute space (scenes), renderer (render),
captions and the multi-scene prompt format (captions), data sets (make_dataset, dataset),
contact sheets (contact_sheet) and the real-footage builder (from_footage).
See docs/data.md."""
