package dev.keel.eval;

/**
 * The experiment's kinds of method, as the report groups them: each with its label, and the route of the
 * comparison it belongs to (the reward-free one, DPO and IPO on the shared pairs; the reward-based one, PPO
 * against the reward model learned from the same pairs; or neither).
 */
public enum Family {
    SFT("SFT", Route.NEITHER, false),
    DPO("DPO", Route.REWARD_FREE, true),
    IPO("IPO", Route.REWARD_FREE, false),
    PPO_LEARNED("PPO (learned reward)", Route.REWARD_BASED, true),
    PPO_GOLD("PPO (gold reward)", Route.NEITHER, false),
    GRPO_LEARNED("GRPO (learned reward)", Route.NEITHER, false),
    BEST_OF_N("Best-of-N", Route.NEITHER, false),
    DPO_HUMAN_PAIRS("DPO (pairs written by people)", Route.NEITHER, true),
    DPO_ITER("DPO-Iter (learned reward)", Route.NEITHER, true),
    PPO_ABLATION("PPO ablation", Route.NEITHER, true),
    KTO("KTO", Route.NEITHER, false),
    ORPO("ORPO", Route.NEITHER, false),
    SIMPO("SimPO", Route.NEITHER, false),
    ONLINE_DPO("Online DPO (learned reward)", Route.NEITHER, false);

    /** Which side of the report's comparison a family is on. */
    public enum Route { REWARD_FREE, REWARD_BASED, NEITHER }

    private final String label;
    private final Route route;
    private final boolean xuQuestion;

    Family(String label, Route route, boolean xuQuestion) {
        this.label = label;
        this.route = route;
        this.xuQuestion = xuQuestion;
    }

    /** The name the report and results.json show. */
    public String label() {
        return label;
    }

    public Route route() {
        return route;
    }

    /** Shown in the report's table of Xu et al.'s questions: the data DPO learns from, and the way PPO is run. */
    boolean xuQuestion() {
        return xuQuestion;
    }
}
