"""Enqueue a gradpool training job from Python and follow it (proto/README.md).

    pip install bullmq                    # the Python port of BullMQ (brings redis-py)
    python examples/enqueue-from-python.py            # JSON encoding: nothing else needed
    # binary encoding: classes generated from the schema (pip install protobuf)
    protoc -I proto --python_out=examples proto/gradpool.proto
    python examples/enqueue-from-python.py --binary

Not run by the tests (they have no Python bullmq); the envelope it builds is
the one test/protocol/job-envelope.test.ts decodes.
"""
import asyncio
import base64
import sys
import uuid

from bullmq import Job, Queue

REDIS_URL = "redis://127.0.0.1:6379"  # the deployment's GRADPOOL_REDIS_URL
PREFIX = "gradpool"  # GRADPOOL_PREFIX; Python BullMQ's default "bull" would miss the coordinator
SCHEMA = "gradpool.v1.TrainingJob"


def training_job(name: str) -> dict:
    """A TrainingJob in its JSON form: the .proto's snake_case names; unset = default."""
    return {
        "name": name,  # the run folder is <output_dir>/<name>: unique per run
        "output_dir": "/shared/runs",  # absolute paths, as the coordinator and workers see them
        "corpus": {"train": ["/shared/data/abstracts.jsonl"], "valid_ratio": 0.05, "field": "text"},
        "model": {"init_from": "/shared/models/bert-base-uncased"},  # its tokenizer too
        "stages": [
            {"seq_len": 128, "micro_batch": 8, "global_batch": 64, "max_steps": 2000,
             "warmup_steps": 100, "learning_rate": 5e-5}
        ],
        "world_size": 2,  # 0 = every free worker
        "priority": 1,  # the same number as the BullMQ option below
    }


def binary_payload(job: dict) -> str:
    """base64 of the protobuf bytes, through the generated class (field names checked here)."""
    sys.path.insert(0, "examples")  # where protoc --python_out put gradpool_pb2.py
    import gradpool_pb2
    from google.protobuf import json_format

    message = json_format.ParseDict(job, gradpool_pb2.TrainingJob())
    return base64.b64encode(message.SerializeToString()).decode("ascii")


async def main(encoding: str) -> None:
    queue = Queue("gradpool-jobs", {"connection": REDIS_URL, "prefix": PREFIX})
    run_id = f"pubmed-mlm-{uuid.uuid4().hex[:8]}"  # our job id: status/cancel/results use it
    job = training_job(run_id)
    payload = job if encoding == "json" else binary_payload(job)
    await queue.add(
        "train",
        {"schema": SCHEMA, "encoding": encoding, "payload": payload},
        # As the TypeScript client: a bad job fails at once (no retries); a crash is retried.
        {"jobId": run_id, "priority": job["priority"], "attempts": 3, "backoff": {"type": "fixed", "delay": 5000}},
    )
    print("submitted", run_id)

    # Progress is the latest gradpool.v1.Progress (JSON); the return value a RunResult.
    while True:
        state = await queue.getJobState(run_id)
        record = await Job.fromId(queue, run_id)
        if record is None:
            print("gone: removed from the queue")
            break
        if state == "completed":
            result = record.returnvalue
            print("done:", result["run_dir"], result["stop_reason"], result.get("last_eval"))
            break
        if state == "failed":  # final: a retried job is "delayed" or "waiting" meanwhile
            print("failed:", record.failedReason)  # a bad job: every problem with its field path
            break
        progress = record.progress if isinstance(record.progress, dict) else {}
        if progress:
            print(f"{state} stage {progress['stage']} step {progress['step']}/{progress['max_steps']} loss {progress['loss']:.4f}")
        await asyncio.sleep(5)
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main("binary" if "--binary" in sys.argv else "json"))
