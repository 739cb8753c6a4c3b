"""What turns a model into GPU work. ``inputs``: the host checks before any GPU work;
``state``: ``ModelState``, the one owner of a model's GPU state (buffers, workspaces, caches);
``plan``: which layers fuse; ``programs``: the recorded step, evaluation and forward programs;
``epochs``: fit's epochs encoded and submitted (GPU thread); ``fit``: fit's host loop
(readbacks, callbacks, progress); ``inference``: evaluate and predict, and their bounded cache;
``submits``: long work split into several submits; ``progress``: what fit and summary print."""
