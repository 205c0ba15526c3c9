#!/usr/bin/env bash
# Make sure a Java runtime is installed for the Spark tests (pyspark's local mode starts a JVM). Installs
# Debian's default headless JDK when `java` is missing; idempotent. Usage: scripts/jdk.sh (prints `java`'s path)
set -euo pipefail

if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "java not found; installing Debian's default headless JDK for Spark" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    default-jdk-headless >/dev/null
fi
JAVA="$(command -v java || echo "${JAVA_HOME:-}/bin/java")"
[ -x "$JAVA" ] || { echo "java is still missing" >&2; exit 1; }
echo "$JAVA"
