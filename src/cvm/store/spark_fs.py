"""Can this Spark session reach the offline store? Checked once per session before a Spark job touches it.

A store in a local folder needs nothing. A store on S3 is read and written by Spark as ``s3a://`` (Hadoop's S3
connector): the session's Hadoop must hold ``org.apache.hadoop.fs.s3a.S3AFileSystem``, which is not in pyspark's
wheel. It comes from the ``hadoop-aws`` jar of the cluster's Hadoop version and the AWS SDK bundle it names,
added with ``store.spark.conf`` (``spark.jars.packages`` or ``spark.jars``). Without it the run stops here with
one line naming the class and the setting, instead of a JVM stack trace from the first job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.store.backend import UnsupportedOperationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cvm.store.offline import OfflineStore

#: Hadoop's S3 filesystem class, which Spark needs for ``s3a://``.
S3A_CLASS = "org.apache.hadoop.fs.s3a.S3AFileSystem"
#: The jars that bring it, for the error message (the version must be the cluster's Hadoop's).
S3A_PACKAGE = "org.apache.hadoop:hadoop-aws:<the cluster's Hadoop version>"


def _java_message(exc: BaseException) -> str:
    """The Java exception's own message (its chain's innermost), without the stack trace."""
    java: Any = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    while java.getCause() is not None:
        java = java.getCause()
    return f"{java.getClass().getName()}: {java.getMessage()}"


def check_store(spark: SparkSession, store: OfflineStore) -> None:
    """Open the store's filesystem in the session's Hadoop; raise :class:`UnsupportedOperationError` if it cannot."""
    if store.location.local:
        return
    url = store.location.spark_uri("")
    jvm: Any = spark._jvm
    try:
        conf = spark._jsc.hadoopConfiguration()
        jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(url), conf)
    except Exception as exc:  # py4j's Py4JJavaError: its message is a JVM stack trace
        message = _java_message(exc)
        if S3A_CLASS in message or "No FileSystem for scheme" in message:
            raise UnsupportedOperationError(
                f"the spark offline backend cannot open the offline store {url}: class {S3A_CLASS} not found. "
                f"Add Hadoop's S3 connector to store.spark.conf: spark.jars.packages: {S3A_PACKAGE} "
                "(it brings the AWS SDK bundle), or spark.jars: the paths of those jars; see docs/object-storage.md"
            ) from None
        raise UnsupportedOperationError(
            f"the spark offline backend cannot open the offline store {url}: {message}"
        ) from None
