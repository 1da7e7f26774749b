package dev.keel.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import dev.keel.data.KtoExample;
import dev.keel.data.PreferencePair;
import dev.keel.loss.CpoLossType;
import dev.keel.train.CpoConfig;
import dev.keel.train.KtoConfig;
import dev.keel.train.KtoTask;
import dev.keel.train.OrpoConfig;
import dev.keel.train.OrpoTask;
import dev.keel.train.CpoTask;
import dev.keel.train.rl.OnlineDpo;
import dev.keel.loss.DpoLossType;
import dev.keel.model.CausalLM;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.rl.Ppo;
import dev.keel.train.rl.Prompts;

/**
 * The experiment's optional arms, for the questions of Xu et al. 2024: PPO with a budget matched to DPO's data,
 * PPO with each of its three factors changed, DPO on pairs written by people (off-policy), and iterative DPO.
 */
final class Questions {
    private Questions() {}

    /** Each pair as two unpaired examples, the chosen desirable and the rejected not (TRL's unpair_preference_dataset). */
    static List<KtoExample> unpaired(List<PreferencePair> pairs) {
        List<KtoExample> out = new ArrayList<>();
        for (PreferencePair p : pairs) {
            out.add(new KtoExample(p.line(), p.promptIds(), p.chosenIds(), true));
            out.add(new KtoExample(p.line(), p.promptIds(), p.rejectedIds(), false));
        }
        return out;
    }

    static List<SentimentExperiment.MethodResult> run(ExperimentConfig cfg, Arms arms, ModelReward learned,
                                                      Prompts rlPrompts, List<String> train,
                                                      List<PreferencePair> rmTrain, List<long[]> pairPrompts,
                                                      Tokenizer tok, CausalLM sft, Path sftDir, RewardSource gold,
                                                      Path dir, Consumer<String> log) {
        List<SentimentExperiment.MethodResult> out = new ArrayList<>();
        ExperimentConfig.Methods m = cfg.methods();
        double kl0 = m.ppoKlCoefs().get(0);
        if (m.matchedBudget()) {
            int samples = cfg.data().pairPrompts() * cfg.data().samplesPerPrompt();
            int its = (samples + m.rlBatch() - 1) / m.rlBatch();
            out.add(arms.rl(Ppo.defaults(), Family.PPO_LEARNED, "\u03b2=" + kl0 + ", " + its * m.rlBatch()
                    + " episodes", kl0, learned, rlPrompts, its, m.rlBatch(), 0));
        }
        if (m.xuAblation()) {
            Ppo raw = new Ppo(0.1, 0.2, 1.0, 0.95, false, false);
            out.add(arms.rl(raw, Family.PPO_ABLATION, "no advantage whitening", kl0, learned, rlPrompts,
                    m.ppoIterations(), m.rlBatch(), 0));
            out.add(arms.rl(Ppo.defaults(), Family.PPO_ABLATION, "4x batch, same episodes", kl0, learned, rlPrompts,
                    Math.max(1, m.ppoIterations() / 4), 4 * m.rlBatch(), 0));
            out.add(arms.rl(Ppo.defaults(), Family.PPO_ABLATION, "EMA reference 0.95", kl0, learned, rlPrompts,
                    m.ppoIterations(), m.rlBatch(), 0.95));
        }
        if (m.offPolicyDpo()) {
            double beta = m.dpoBetas().get(m.dpoBetas().size() / 2);
            List<PreferencePair> human = HumanPairs.of(train, tok, gold, rmTrain.size(), cfg.data().maxNewTokens(),
                    cfg.data().minGoldMargin(), cfg.seed() + 3);
            log.accept("   " + human.size() + " pairs written by people, for DPO off-policy");
            Cost hc = Cost.start();
            ReferenceLogps humanRef = ReferenceLogps.compute(sft, human, 32, tok.padId());
            out.add(arms.dpo(DpoLossType.SIGMOID, beta, Family.DPO_HUMAN_PAIRS, human, humanRef,
                    hc.stop()));
        }
        for (ExperimentConfig.Extra e : m.extra()) {
            double beta = m.dpoBetas().get(m.dpoBetas().size() / 2);
            out.add(switch (e) {
                case KTO -> arms.offline(Family.KTO, "\u03b2=" + beta,
                        p -> new KtoTask(p, sft, tok.padId(), KtoConfig.defaults().withBeta(beta)), unpaired(rmTrain));
                case ORPO -> arms.offline(Family.ORPO, "\u03bb=0.1", p -> new OrpoTask(p, tok.padId(), OrpoConfig.defaults()),
                        rmTrain);
                case SIMPO -> arms.offline(Family.SIMPO, "\u03b2=2, \u03b3=1",
                        p -> new CpoTask(p, tok.padId(), new CpoConfig(CpoLossType.SIMPO, 2.0, 0.0, 1.0, 0.0)), rmTrain);
                case ONLINE_DPO -> arms.rl(new OnlineDpo(beta, DpoLossType.SIGMOID), Family.ONLINE_DPO,
                        "\u03b2=" + beta, beta, learned, rlPrompts, m.ppoIterations(), Math.max(1, m.rlBatch() / 2), 0);
            });
        }
        if (m.dpoIterRounds() > 0) {
            double beta = m.dpoBetas().get(m.dpoBetas().size() / 2);
            out.add(IterativeDpo.run(arms, cfg, m.dpoIterRounds(), beta, learned,
                    pairPrompts, tok, sftDir, dir, log));
        }
        return out;
    }
}
