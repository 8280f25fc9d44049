"""Lab 11 `llm_serving`: lab 7's GPT served, from one request to a fleet's capacity plan.

The public API, milestone by milestone:

- m1 ``sampling``/``stopping``/``engine``: :class:`SamplingParams`,
  :func:`token_distribution`, :func:`sample_token`, :class:`StopChecker`,
  :func:`prefill`, :func:`decode_step`, :func:`generate_one`;
- m2 ``batch_forward``/``scheduler``: :func:`attention_masks`,
  :func:`forward_batch`, :class:`Scheduler` (continuous and static), over
  :class:`ContiguousKV`;
- m3 ``block_allocator``/``paged_cache``: :class:`BlockAllocator`,
  :class:`PagedKVCache` (block tables, copy-on-write, shared prefixes) and
  preemption in the scheduler;
- m4 ``admission``/``async_engine``/``routes``: :class:`KVAdmission`,
  :class:`AsyncEngine`, the FastAPI app (``main.create_app``);
- m5 ``load_metrics``/``capacity``: :func:`request_timing`,
  :func:`load_summary`, :func:`knee_rate`, :func:`replicas_needed`.

Given: :func:`ensure_model` (the trained model), the KV store interface,
the workload, the load studies. The brief is ``README.md``; ``labkit run
llm_serving`` measures everything.
"""

from labs.llm_serving.admission import KVAdmission, Overloaded
from labs.llm_serving.async_engine import AsyncEngine, RequestHandle
from labs.llm_serving.batch_forward import attention_masks, forward_batch, logits_alone
from labs.llm_serving.block_allocator import BlockAllocator, DoubleFree, OutOfBlocks
from labs.llm_serving.capacity import knee_rate, replicas_needed
from labs.llm_serving.checkpoint import ServedModel, ensure_model, pick_device
from labs.llm_serving.engine import Completion, decode_step, generate_one, prefill
from labs.llm_serving.kv_store import ContiguousKV, KVStore
from labs.llm_serving.load_metrics import SLO, load_summary, meets_slo, request_timing
from labs.llm_serving.paged_cache import PagedKVCache
from labs.llm_serving.sampling import (
    SamplingParams,
    make_generator,
    sample_token,
    token_distribution,
    token_logprob,
)
from labs.llm_serving.scheduler import Scheduler
from labs.llm_serving.sequence import Sequence, TokenEvent, next_seq_id
from labs.llm_serving.settings import Settings
from labs.llm_serving.stopping import StopChecker

__all__ = [
    "SLO",
    "AsyncEngine",
    "BlockAllocator",
    "Completion",
    "ContiguousKV",
    "DoubleFree",
    "KVAdmission",
    "KVStore",
    "OutOfBlocks",
    "Overloaded",
    "PagedKVCache",
    "RequestHandle",
    "SamplingParams",
    "Scheduler",
    "Sequence",
    "ServedModel",
    "Settings",
    "StopChecker",
    "TokenEvent",
    "attention_masks",
    "decode_step",
    "ensure_model",
    "forward_batch",
    "generate_one",
    "knee_rate",
    "load_summary",
    "logits_alone",
    "make_generator",
    "meets_slo",
    "next_seq_id",
    "pick_device",
    "prefill",
    "replicas_needed",
    "request_timing",
    "sample_token",
    "token_distribution",
    "token_logprob",
]
