# The pipeline image: `push-consumer run` by default, the runtime package `consumer` and its
# dependencies only. With the build argument EXTRAS=dev it also carries the development tools'
# dependencies (the `dev` extra), which docker-compose.yml uses for the simulators
# (`simulate azure|responsys`). Configure it with PUSH_* env vars and a settings file named by
# PUSH_CONFIG (see docs/deploy.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Optional extras to install beside the runtime, e.g. `dev` (empty: the runtime only).
ARG EXTRAS=""

WORKDIR /src
# Dependencies first, from pyproject.toml alone (stub packages), so that this layer survives
# edits to the source; then the project itself without dependencies. constraints.txt pins
# every version (`make lock` writes it), so two builds a month apart install the same thing.
COPY pyproject.toml constraints.txt ./
RUN mkdir consumer push_tools \
    && touch README.md consumer/__init__.py push_tools/__init__.py \
    && pip install --constraint constraints.txt ".${EXTRAS:+[$EXTRAS]}" \
    && pip uninstall --yes push-dispatch \
    && rm -rf README.md consumer push_tools build ./*.egg-info
COPY README.md ./
COPY consumer ./consumer
COPY push_tools ./push_tools
# consumer/avro/avsc links to schemas/: the wheel carries the schemas as package data.
COPY schemas ./schemas
# The pipeline's hot modules compiled by mypyc (setup.py says which and why); the compiler,
# mypy and the C toolchain are there for the build only and removed after it.
COPY setup.py ./
RUN apt-get update && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && pip install --constraint constraints.txt 'setuptools>=77' mypy \
    && PUSH_DISPATCH_COMPILE=1 pip install --no-build-isolation --no-deps . \
    && pip uninstall --yes mypy librt ast-serialize pathspec mypy_extensions \
    && apt-get purge --yes --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
    && python -c 'import consumer.pipeline.intake as m; assert m.__file__.endswith(".so"), m' \
    && python -c 'from consumer.avro import SchemaSet; SchemaSet.load()' \
    && push-consumer --help > /dev/null \
    && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /app --create-home push
USER push
WORKDIR /app

EXPOSE 9464
# Liveness of the pipeline's loops; the port follows PUSH_METRICS__PORT (default 9464).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PUSH_METRICS__PORT', '9464'), timeout=4)"]

ENTRYPOINT ["push-consumer"]
CMD ["run"]
