# Hearth: `hearth run` on the embedded default (SQLite + console) unless a config says more.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY knowledge ./knowledge
COPY scheduling ./scheduling
# The e2e extra (matrix-nio's: vodozemac wheels, no system library) lets Matrix read and
# answer in encrypted rooms, which `encryption = true` (the default) asks for.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[e2e]"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 hearth && mkdir /data && chown hearth /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER hearth
# Relative paths in the default config (hearth.db, the console history, exports) land here.
WORKDIR /data
VOLUME ["/data"]
# Mount a config at /data/hearth.toml, or point HEARTH_CONFIG at one (compose.yaml uses
# deploy/hearth.toml). The operations server listens where [web] says; 8080 by convention.
EXPOSE 8080
# `hearth healthcheck` asks /healthz when [web] is on and passes when it is off.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["hearth", "healthcheck"]
ENTRYPOINT ["hearth"]
CMD ["run"]
