package dev.keel.loss;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

import org.bytedeco.pytorch.Tensor;

/**
 * Per-token estimators of KL(π ‖ π_ref) from the log-probabilities of tokens sampled from π (docs/ALGORITHMS.md §4.1),
 * named as TRL's {@code kl_estimator} option names them. Schulman, "Approximating KL Divergence" (2020,
 * http://joschu.net/blog/kl-approx.html): with l = log π(y_t) − log π_ref(y_t) and y_t ~ π,
 * <ul>
 * <li>k1 = l, unbiased, high variance, negative for some tokens;</li>
 * <li>k3 = (e^{−l} − 1) + l, unbiased (E_π[e^{−l}] = 1), never negative, lower variance.</li>
 * </ul>
 * TRL's PPO trainer writes the same with {@code logr = ref_logprobs - logprobs}: {@code -logr} for k1 and
 * {@code (logr.exp() - 1) - logr} for k3; GRPO's {@code per_token_kl} is k3 of the current policy against the
 * reference. Here e^{−l} − 1 is libtorch's {@code expm1(−l)}: the same value, without the cancellation of
 * exp(−l) − 1 when l is small.
 */
public enum KlEstimator {
    /** kl_t = l_t. */
    K1("k1"),
    /** kl_t = (e^{−l_t} − 1) + l_t. */
    K3("k3");

    private final String trlName;

    KlEstimator(String trlName) {
        this.trlName = trlName;
    }

    /** The name TRL uses ({@code kl_estimator="k1"} or {@code "k3"}). */
    @com.fasterxml.jackson.annotation.JsonValue
    public String trlName() {
        return trlName;
    }

    /**
     * The per-token estimate for l = logpOld − logpRef. The result keeps the graph of both inputs (GRPO passes
     * the current policy's log-probs with their graph; PPO's rollout passes detached ones).
     *
     * @param logpOld (B, T) log-probs of the sampled tokens under the sampling policy (or the current one)
     * @param logpRef (B, T) log-probs of the same tokens under the reference
     * @return (B, T) per-token KL estimate; the caller masks padding
     */
    public Tensor perToken(Tensor logpOld, Tensor logpRef) {
        Tensor l = logpOld.sub(logpRef);
        return switch (this) {
            case K1 -> l;
            case K3 -> l.neg().expm1().add(l);
        };
    }

    /**
     * The estimator with TRL name {@code name} ("k1" or "k3"), ignoring case and surrounding blanks.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is neither
     */
    public static KlEstimator parse(String name) {
        if (name != null) {
            String n = name.strip().toLowerCase(Locale.ROOT);
            for (KlEstimator e : values()) {
                if (e.trlName.equals(n)) {
                    return e;
                }
            }
        }
        throw new IllegalArgumentException("unknown KL estimator '" + name + "'; valid: "
                + Arrays.stream(values()).map(KlEstimator::trlName).collect(Collectors.joining(", ")));
    }
}
