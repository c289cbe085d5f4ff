"""The pipeline's parts beside its run loop (`consumer.app`).

intake.py      consumed records in: decode, validate, dead letters, retry partitions that wait
dispatcher.py  plan calls (the batcher), send them as owned tasks, conclude each intent
conclusion.py  once every part answered: the final outcome, or park and wait
parking.py     the retry topic's header, delays and deadlines
ledger.py      every message read and not yet finished: offsets, counts, the in-flight bound
outbox.py      encode, produce and acknowledge what messages produced, then finish them
pending.py     the pending record of a call an asynchronous provider queued
"""
