#include "paddler/paddler_sampling.h"

#include <array>
#include <cmath>
#include <limits>

#include "paddler_guard.hpp"

namespace {

bool grammar_allows(llama_sampler * grammar, llama_token token) {
    llama_token_data candidate = {token, 0.0f, 0.0f};
    llama_token_data_array single = {&candidate, 1, -1, false};
    llama_sampler_apply(grammar, &single);
    return std::isfinite(candidate.logit);
}

void load_candidates(const float * logits, llama_token_data * scratch, int32_t n_vocab,
                     llama_token_data_array * candidates) {
    for (llama_token token_id = 0; token_id < n_vocab; token_id++) {
        scratch[token_id] = llama_token_data{token_id, logits[token_id], 0.0f};
    }
    *candidates = llama_token_data_array{scratch, static_cast<size_t>(n_vocab), -1, false};
}

// The first token with the largest logit (NaN never wins). The largest value is found over independent
// lanes, which the compiler keeps in vector registers, then its first token in a second pass: a single
// running index would chain every comparison to the one before (~30 us for a 49k vocabulary, now a few).
llama_token first_argmax(const float * logits, int32_t n_vocab) {
    constexpr int32_t lanes = 16;
    std::array<float, lanes> largest;
    largest.fill(-std::numeric_limits<float>::infinity());
    int32_t token_id = 0;
    for (; token_id + lanes <= n_vocab; token_id += lanes) {
        for (int32_t lane = 0; lane < lanes; lane++) {
            const float logit = logits[token_id + lane];
            largest[lane] = logit > largest[lane] ? logit : largest[lane];
        }
    }
    float best = -std::numeric_limits<float>::infinity();
    for (; token_id < n_vocab; token_id++) {
        best = logits[token_id] > best ? logits[token_id] : best;
    }
    for (const float value : largest) {
        best = value > best ? value : best;
    }
    for (token_id = 0; token_id < n_vocab; token_id++) {
        if (logits[token_id] == best) {
            return token_id;
        }
    }
    return 0;  // every logit NaN: the caller finds token 0 not finite
}

// The selected candidate, or nullptr when the chain picked one that every constraint ruled out
// (a rejected candidate keeps logit -inf; accepting it would abort inside the grammar).
const llama_token_data * selected_candidate(const llama_token_data_array & candidates) {
    if (candidates.selected < 0 || candidates.selected >= static_cast<int64_t>(candidates.size)) {
        return nullptr;
    }
    const llama_token_data & chosen = candidates.data[candidates.selected];
    return std::isfinite(chosen.logit) ? &chosen : nullptr;
}

paddler_status choose_token(
    llama_sampler * chain, llama_sampler * grammar, const float * logits,
    llama_token_data * scratch, int32_t n_vocab, llama_token * out_token) {
    llama_token_data_array candidates;
    load_candidates(logits, scratch, n_vocab, &candidates);
    llama_sampler_apply(chain, &candidates);
    const llama_token_data * chosen = selected_candidate(candidates);
    if (chosen != nullptr && (grammar == nullptr || grammar_allows(grammar, chosen->id))) {
        *out_token = chosen->id;
        return PADDLER_STATUS_OK;
    }
    if (grammar == nullptr) {
        return PADDLER_STATUS_NO_VIABLE_TOKEN;
    }
    load_candidates(logits, scratch, n_vocab, &candidates);
    llama_sampler_apply(grammar, &candidates);
    llama_sampler_apply(chain, &candidates);
    chosen = selected_candidate(candidates);
    if (chosen == nullptr) {
        return PADDLER_STATUS_NO_VIABLE_TOKEN;
    }
    *out_token = chosen->id;
    return PADDLER_STATUS_OK;
}

void accept_both(llama_sampler * chain, llama_sampler * grammar, llama_token token) {
    if (grammar != nullptr) {
        llama_sampler_accept(grammar, token);
    }
    llama_sampler_accept(chain, token);
}

// The logits the last decode produced at `batch_index`; nullptr, with the error written, when none.
const float * logits_at(llama_context * context, int32_t batch_index, char * error_buffer, size_t error_buffer_size) {
    const float * logits = llama_get_logits_ith(context, batch_index);
    if (logits == nullptr) {
        paddler_write_error(error_buffer, error_buffer_size, "no logits at this batch index");
    }
    return logits;
}

}  // namespace

extern "C" paddler_status paddler_sampler_sample(
    llama_sampler * chain, llama_sampler * grammar, llama_context * context, int32_t batch_index,
    llama_token_data * scratch, int32_t n_vocab, llama_token * out_token,
    char * error_buffer, size_t error_buffer_size) {
    return paddler_guard(error_buffer, error_buffer_size, [&] {
        const float * logits = logits_at(context, batch_index, error_buffer, error_buffer_size);
        if (logits == nullptr) {
            return PADDLER_STATUS_NO_LOGITS;
        }
        const paddler_status status = choose_token(chain, grammar, logits, scratch, n_vocab, out_token);
        if (status != PADDLER_STATUS_OK) {
            paddler_write_error(error_buffer, error_buffer_size, "no token satisfies the sampling constraints");
            return status;
        }
        accept_both(chain, grammar, *out_token);
        return PADDLER_STATUS_OK;
    });
}

extern "C" paddler_status paddler_sampler_argmax(
    llama_context * context, int32_t batch_index, int32_t n_vocab, llama_token * out_token,
    char * error_buffer, size_t error_buffer_size) {
    return paddler_guard(error_buffer, error_buffer_size, [&] {
        const float * logits = logits_at(context, batch_index, error_buffer, error_buffer_size);
        if (logits == nullptr) {
            return PADDLER_STATUS_NO_LOGITS;
        }
        const llama_token best = first_argmax(logits, n_vocab);
        if (!std::isfinite(logits[best])) {
            paddler_write_error(error_buffer, error_buffer_size, "no token satisfies the sampling constraints");
            return PADDLER_STATUS_NO_VIABLE_TOKEN;
        }
        *out_token = best;
        return PADDLER_STATUS_OK;
    });
}

extern "C" paddler_status paddler_sampler_accept(
    llama_sampler * chain, llama_sampler * grammar, llama_token token,
    char * error_buffer, size_t error_buffer_size) {
    return paddler_guard(error_buffer, error_buffer_size, [&] {
        if (grammar != nullptr && !grammar_allows(grammar, token)) {
            paddler_write_error(error_buffer, error_buffer_size, "the grammar does not allow this token here");
            return PADDLER_STATUS_NO_VIABLE_TOKEN;
        }
        accept_both(chain, grammar, token);
        return PADDLER_STATUS_OK;
    });
}
