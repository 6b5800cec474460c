"""codec.encode for the three records a run writes per job (Job, Value, CallNode): the run's
hot path. Each encoder is one function generated from the record's FIELDS
(objects/schema.make_encoder) that writes the sorted field map straight out, without
codec.encode's per-call packer lookup and error wrapping. Byte-identical to codec.encode
(tests/test_codec.py checks it on generated records). Single-threaded: one shared Packer.
"""

import msgpack

from .records import CallNode, Job, Value
from .schema import make_encoder

_PACK = msgpack.Packer(use_bin_type=True, strict_types=True, use_single_float=False).pack

encode_job = make_encoder(Job, _PACK)
encode_value = make_encoder(Value, _PACK)
encode_call_node = make_encoder(CallNode, _PACK)

FAST_ENCODERS = {Job: encode_job, Value: encode_value, CallNode: encode_call_node}
