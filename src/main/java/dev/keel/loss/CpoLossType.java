package dev.keel.loss;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The preference terms of CPO and SimPO (docs/ALGORITHMS.md §3.3), named as TRL's {@code CPOConfig.loss_type} names
 * them. The formulas are in {@link CpoLoss}.
 */
public enum CpoLossType {
    /** −log σ(βΔ), Δ from summed log-probs; with label smoothing ε the conservative form. Xu et al. 2024 Eq. 3. */
    SIGMOID("sigmoid", false, true),
    /** relu(1 − βΔ) on summed log-probs. SLiC, Zhao et al. 2023. */
    HINGE("hinge", false, false),
    /** (Δ − 1/(2β))² on length-averaged log-probs. Azar et al. 2023 Eq. 17. */
    IPO("ipo", true, false),
    /** −log σ(βΔ − γ) on length-averaged log-probs. Meng et al. 2024 Eq. 6. */
    SIMPO("simpo", true, true);

    private final String trlName;
    private final boolean lengthNormalised;
    private final boolean usesLabelSmoothing;

    CpoLossType(String trlName, boolean lengthNormalised, boolean usesLabelSmoothing) {
        this.trlName = trlName;
        this.lengthNormalised = lengthNormalised;
        this.usesLabelSmoothing = usesLabelSmoothing;
    }

    /** The name TRL uses for this loss ({@code loss_type="..."}). */
    @com.fasterxml.jackson.annotation.JsonValue
    public String trlName() {
        return trlName;
    }

    /**
     * Whether the loss reads per-token mean log-probs instead of sums (TRL's
     * {@code average_log_prob=self.loss_type in ["ipo", "simpo"]}).
     */
    public boolean lengthNormalised() {
        return lengthNormalised;
    }

    /** Whether the loss reads the label smoothing ε (TRL's {@code cpo_loss} applies it to sigmoid and simpo). */
    public boolean usesLabelSmoothing() {
        return usesLabelSmoothing;
    }

    /**
     * The loss type with TRL name {@code name}, ignoring case and surrounding blanks.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is none of them
     */
    public static CpoLossType parse(String name) {
        if (name != null) {
            String n = name.strip().toLowerCase(Locale.ROOT);
            for (CpoLossType t : values()) {
                if (t.trlName.equals(n)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException("unknown CPO loss type '" + name + "'; valid: " + validNames());
    }

    /** The TRL names, comma-separated, in declaration order. */
    public static String validNames() {
        return Arrays.stream(values()).map(CpoLossType::trlName).collect(Collectors.joining(", "));
    }
}
