"""The imdb-lstm tokenizer class: transformers' `tokenizers`-backed tokenizer with a shorter path for the call a
`pipeline` makes once per review (one text, tensors back, no padding, no extras).

This file is copied to the Hub next to `modeling_imdb_lstm.py` (a saved tokenizer names it in `auto_map`) and must
import nothing but torch, transformers and the standard library.

Why a class of its own: `pipeline("text-classification")` tokenises each review alone with `return_tensors="pt"`.
For a review of a few hundred words, transformers' generic path spends about as long around the Rust tokenizer as
in it: it sends the one text through `encode_batch` (a thread-pool hand-off) and turns Python lists into tensors
element by element. The short path calls `encode` and builds the tensors from a machine-integer buffer. It returns
exactly what the generic path returns (the same keys, values, dtypes and shapes); any call it does not cover goes
the generic way.
"""

from array import array

import torch
from transformers import PreTrainedTokenizerFast
from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TensorType, TruncationStrategy


def _row(values: list[int]) -> torch.Tensor:
    """(1, len) int64 tensor of `values`, built from a machine-integer buffer (torch.tensor reads a list item by
    item; frombuffer shares the buffer and keeps it alive)."""
    if not values:
        return torch.zeros(1, 0, dtype=torch.int64)
    return torch.frombuffer(array("q", values), dtype=torch.int64).unsqueeze(0)


class ImdbLstmTokenizer(PreTrainedTokenizerFast):
    """A word-level `PreTrainedTokenizerFast` (see `imdb_lstm.tokenization` for what it splits and how); the same
    results as the generic class, sooner for one text at a time."""

    def _encode_plus(self, text, text_pair=None, add_special_tokens: bool = True,
                     padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
                     truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
                     max_length: int | None = None, stride: int = 0, is_split_into_words: bool = False,
                     pad_to_multiple_of: int | None = None, padding_side: str | None = None, return_tensors=None,
                     return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                     return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                     return_offsets_mapping: bool = False, return_length: bool = False, verbose: bool = True,
                     split_special_tokens: bool | None = None, **kwargs) -> BatchEncoding:
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        short_path = (
            isinstance(text, str) and text_pair is None and not is_split_into_words and not kwargs
            and return_tensors in ("pt", TensorType.PYTORCH)
            and padding_strategy == PaddingStrategy.DO_NOT_PAD
            and not (return_token_type_ids or return_overflowing_tokens or return_special_tokens_mask
                     or return_offsets_mapping or return_length)
            and split_special_tokens in (None, self.split_special_tokens)
        )
        if not short_path:
            return super()._encode_plus(
                text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding_strategy=padding_strategy,
                truncation_strategy=truncation_strategy, max_length=max_length, stride=stride,
                is_split_into_words=is_split_into_words, pad_to_multiple_of=pad_to_multiple_of,
                padding_side=padding_side, return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
                return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
                return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
                return_length=return_length, verbose=verbose, split_special_tokens=split_special_tokens, **kwargs)
        # What the generic path sets on the Rust tokenizer before it encodes (truncation here; no padding).
        self.set_truncation_and_padding(padding_strategy=padding_strategy, truncation_strategy=truncation_strategy,
                                        max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
                                        padding_side=padding_side)
        if self._tokenizer.encode_special_tokens != self.split_special_tokens:
            self._tokenizer.encode_special_tokens = self.split_special_tokens
        encoding = self._tokenizer.encode(text, add_special_tokens=add_special_tokens)
        data = {"input_ids": _row(encoding.ids)}
        if return_attention_mask:
            data["attention_mask"] = _row(encoding.attention_mask)
        self._eventual_warn_about_too_long_sequence(encoding.ids, max_length, verbose)
        return BatchEncoding(data, [encoding], tensor_type=return_tensors)


# A saved tokenizer names this class in tokenizer_config.json's `auto_map` and carries this file, so that
# `AutoTokenizer.from_pretrained(folder, trust_remote_code=True)` finds it where imdb_lstm is not installed.
ImdbLstmTokenizer.register_for_auto_class("AutoTokenizer")
