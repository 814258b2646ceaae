"""Enqueue a gradpool training job from Python, with the .proto alone.

    pip install bullmq        # the Python port of BullMQ (uses redis-py)
    python examples/enqueue-from-python.py

The job travels as the JSON encoding of gradpool.v1.TrainingJob (see
proto/README.md); for the binary encoding generate classes with
`protoc --python_out=. proto/gradpool.proto` and send base64(job.SerializeToString()).
"""
import asyncio
import uuid

from bullmq import Queue


async def main():
    queue = Queue("gradpool-jobs", {"connection": "redis://127.0.0.1:6379", "prefix": "gradpool"})
    run_id = f"pubmed-mlm-{uuid.uuid4().hex[:8]}"
    payload = {
        "name": run_id,
        "output_dir": "/shared/runs",
        "corpus": {"train": ["/shared/data/abstracts.jsonl"], "valid_ratio": 0.05, "field": "text"},
        "model": {"init_from": "/shared/models/bert-base-uncased"},
        "stages": [
            {"seq_len": 128, "micro_batch": 8, "global_batch": 64, "max_steps": 2000,
             "warmup_steps": 100, "learning_rate": 5e-5}
        ],
        "world_size": 2,
        "priority": 1,
    }
    await queue.add(
        "train",
        {"schema": "gradpool.v1.TrainingJob", "encoding": "json", "payload": payload},
        {"jobId": run_id, "priority": 1},
    )
    print(run_id)  # then: node bin/gradpool.js status <run_id>
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
