"""`push-consumer demo`: the whole pipeline on one machine, with a live view.

command.py       the CLI: arguments, plain or live view, exit code
stack.py         starts Kafka, topics, simulators, pipeline, Prometheus, producer; stops
                 them in reverse order
pipeline.py      the pipeline as a child process (`python -m consumer run`) and its settings
prometheus.py    Prometheus as a child process, on the repository's scrape config
traffic.py       realistic synthetic intents, good and bad
producer.py      publishes that traffic at a fixed rate, on a thread of its own
scrape.py        reads the pipeline's /metrics into a small snapshot
tally.py         counts what the run published to the outcomes and dead-letter topics
view.py          the plain lines, the live table and the final summary
children.py      child-process hygiene: no Ctrl-C to children, no process left behind
"""
