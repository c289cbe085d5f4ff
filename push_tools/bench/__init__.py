"""`push-consumer bench`: throughput, latency, batch fill and memory of the pipeline.

One run, on one broker and one data set:

    workload.py      intents to produce (campaigns, devices per intent, Responsys share)
                     and the ideal number of provider calls for them
    environment.py   the local broker (unless one is given) and both simulators
    outcome_log.py   watching and reading an outcomes topic (counts, timestamps)
    baseline.py      the least work any consumer must do: no batching, no HTTP
    naive.py         one provider call per intent
    pipeline_run.py  the real pipeline as a child process, its peak RSS sampled
    profiler.py      py-spy on the pipeline process, top frames
    report.py        the figures as a table and as JSON
    command.py       the phases, in order

Beside it, `python -m push_tools.bench.sim_throughput` measures the Azure simulator alone.
The figures of the last runs and how to read them: push_tools/bench/README.md.

Like `push_tools.local`, this package is tooling around the pipeline: it uses the Kafka
client directly to produce load and read results.
"""
