"""What turns a model into GPU work. ``inputs``: the host checks before any GPU work;
``state``: the model's buffers; ``plan``: which layers fuse; ``programs``: the recorded step,
evaluation and forward programs; ``epochs``: fit's epochs encoded and submitted (GPU thread);
``fit``: fit's host loop (readbacks, callbacks, progress); ``inference``: evaluate and predict;
``progress``: what fit and summary print."""
