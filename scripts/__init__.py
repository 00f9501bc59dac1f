"""Developer commands, each run as ``python -m scripts.<name>`` (the Makefile's targets).

``stack`` trains the Rasa model and runs the whole stack (``make run``, ``make train``); ``nlu_eval``
cross-validates the NLU (``make nlu-eval``); ``bench_*`` are the benchmarks (``make bench``), which share
``stats.percentile``.
"""
