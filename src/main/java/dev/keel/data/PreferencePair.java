package dev.keel.data;

/**
 * A tokenized preference: prompt, chosen and rejected completions, an optional margin (reward modelling),
 * and, for DPO, the reference model's summed log-probabilities of each completion (filled in before training).
 */
public final class PreferencePair {
    private final int line;
    private final long[] promptIds;
    private final long[] chosenIds;
    private final long[] rejectedIds;
    private final double margin;
    private double refChosen;
    private double refRejected;

    public PreferencePair(int line, long[] promptIds, long[] chosenIds, long[] rejectedIds, double margin) {
        this.line = line;
        this.promptIds = promptIds;
        this.chosenIds = chosenIds;
        this.rejectedIds = rejectedIds;
        this.margin = margin;
    }

    public int line() {
        return line;
    }

    public long[] promptIds() {
        return promptIds;
    }

    public long[] chosenIds() {
        return chosenIds;
    }

    public long[] rejectedIds() {
        return rejectedIds;
    }

    /** The per-pair margin m of the Bradley-Terry loss (0 when the record has none). */
    public double margin() {
        return margin;
    }

    public double refChosen() {
        return refChosen;
    }

    public double refRejected() {
        return refRejected;
    }

    public void setReference(double chosen, double rejected) {
        this.refChosen = chosen;
        this.refRejected = rejected;
    }
}
