"""The pipeline's parts beside its run loop (`consumer.app`).

ledger.py   every message read and not yet finished: offsets, counts, the in-flight bound
outbox.py   encode, produce and acknowledge what messages produced, then finish them
pending.py  the pending record of a call an asynchronous provider queued
"""
