package dev.keel.loss;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The preference losses of the DPO family (docs/ALGORITHMS.md §3), named as TRL's {@code DPOConfig.loss_type} names
 * them. The formulas are in {@link DpoLoss}.
 */
public enum DpoLossType {
    /** −log σ(βΔ); with label smoothing ε it is cDPO. Rafailov et al. 2023 Eq. 7; Mitchell 2023 Eq. 3. */
    SIGMOID("sigmoid"),
    /** Unbiased loss under label noise ε (rDPO). Chowdhury et al. 2024. */
    ROBUST("robust"),
    /** relu(1 − βΔ). SLiC, Zhao et al. 2023. */
    HINGE("hinge"),
    /** (Δ − 1/(2β))² on length-averaged log-probs. Azar et al. 2023 Eq. 17. */
    IPO("ipo"),
    /** −log σ(βc) − log σ(−βr). Jung et al. 2024. */
    BCO_PAIR("bco_pair"),
    /** (c − 1/(2β))² + (r + 1/(2β))². Wu et al. 2024. */
    SPPO_HARD("sppo_hard"),
    /** −log σ(βc) − ½ log σ(−βc) − ½ log σ(−βr). Chen et al. 2024. */
    NCA_PAIR("nca_pair"),
    /** 1 − σ(βc) + σ(βr). D'Oosterlinck et al. 2024 Eq. 7. */
    APO_ZERO("apo_zero"),
    /** σ(βc) + 1 − σ(βΔ). D'Oosterlinck et al. 2024 Eq. 8. */
    APO_DOWN("apo_down");

    private final String trlName;

    DpoLossType(String trlName) {
        this.trlName = trlName;
    }

    /** The name TRL uses for this loss ({@code loss_type="..."}). */
    @com.fasterxml.jackson.annotation.JsonValue
    public String trlName() {
        return trlName;
    }

    /** Whether the loss reads the label smoothing ε (TRL ignores ε, with a warning, for the others). */
    public boolean usesLabelSmoothing() {
        return this == SIGMOID || this == ROBUST;
    }

    /**
     * The loss type with TRL name {@code name}, ignoring case and surrounding blanks.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is none of them
     */
    public static DpoLossType parse(String name) {
        if (name != null) {
            String n = name.strip().toLowerCase(Locale.ROOT);
            for (DpoLossType t : values()) {
                if (t.trlName.equals(n)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException("unknown DPO loss type '" + name + "'; valid: " + validNames());
    }

    /** The TRL names, comma-separated, in declaration order. */
    public static String validNames() {
        return Arrays.stream(values()).map(DpoLossType::trlName).collect(Collectors.joining(", "));
    }
}
