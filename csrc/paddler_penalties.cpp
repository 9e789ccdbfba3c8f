#include "paddler/paddler_penalties.h"

#include <deque>
#include <new>
#include <unordered_map>

namespace {

struct penalties {
    int32_t n_vocab;
    int32_t last_n;
    float repeat;
    float frequency;
    float presence;
    // The window of accepted tokens (oldest first) and how often each token occurs in it.
    std::deque<llama_token> window;
    std::unordered_map<llama_token, int> counts;

    bool disabled() const { return last_n == 0 || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f); }

    void penalize(llama_token_data & candidate, int count) const {
        // Multiplying a negative logit keeps a seen token from becoming likelier (llama.cpp's rule).
        if (candidate.logit <= 0) {
            candidate.logit *= repeat;
        } else {
            candidate.logit /= repeat;
        }
        candidate.logit -= float(count) * frequency + float(count > 0) * presence;
    }

    // True when every seen token's candidate sits at its own index, so it can be reached directly.
    bool in_token_order(const llama_token_data_array * candidates) const {
        if (candidates->size != static_cast<size_t>(n_vocab)) {
            return false;
        }
        for (const auto & [token, count] : counts) {
            if (token < 0 || token >= n_vocab || candidates->data[token].id != token) {
                return false;
            }
        }
        return true;
    }
};

penalties * state_of(const llama_sampler * sampler) { return static_cast<penalties *>(sampler->ctx); }

const char * name(const llama_sampler *) { return "paddler-penalties"; }

void accept(llama_sampler * sampler, llama_token token) {
    penalties * state = state_of(sampler);
    if (state->last_n == 0) {
        return;
    }
    state->counts[token]++;
    state->window.push_back(token);
    if (state->window.size() > static_cast<size_t>(state->last_n)) {
        const llama_token oldest = state->window.front();
        state->window.pop_front();
        if (--state->counts[oldest] == 0) {
            state->counts.erase(oldest);
        }
    }
}

void apply(llama_sampler * sampler, llama_token_data_array * candidates) {
    const penalties * state = state_of(sampler);
    if (state->disabled()) {
        return;
    }
    if (state->in_token_order(candidates)) {
        for (const auto & [token, count] : state->counts) {
            state->penalize(candidates->data[token], count);
        }
    } else {
        for (size_t index = 0; index < candidates->size; index++) {
            const auto found = state->counts.find(candidates->data[index].id);
            if (found != state->counts.end()) {
                state->penalize(candidates->data[index], found->second);
            }
        }
    }
    candidates->sorted = false;
}

void reset(llama_sampler * sampler) {
    penalties * state = state_of(sampler);
    state->window.clear();
    state->counts.clear();
}

llama_sampler * clone(const llama_sampler * sampler);

void free_state(llama_sampler * sampler) { delete state_of(sampler); }

llama_sampler_i make_interface() {
    llama_sampler_i methods{};  // the backend (GPU sampling) entries stay null: this sampler runs on the host
    methods.name = name;
    methods.accept = accept;
    methods.apply = apply;
    methods.reset = reset;
    methods.clone = clone;
    methods.free = free_state;
    return methods;
}

llama_sampler_i interface = make_interface();

llama_sampler * clone(const llama_sampler * sampler) {
    auto * copy = new (std::nothrow) penalties(*state_of(sampler));
    return copy == nullptr ? nullptr : llama_sampler_init(&interface, copy);
}

}  // namespace

extern "C" llama_sampler * paddler_sampler_init_penalties(
    int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence) {
    last_n = last_n < 0 ? 0 : last_n;
    auto * state = new (std::nothrow) penalties{n_vocab, last_n, repeat, frequency, presence, {}, {}};
    return state == nullptr ? nullptr : llama_sampler_init(&interface, state);
}
