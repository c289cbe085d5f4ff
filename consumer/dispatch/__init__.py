"""Shared HTTP dispatch machinery: pooled client, rate limit, retries, circuit breaker.

Only this package imports httpx; provider modules describe requests and read answers.
"""
