package dev.keel.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;
import dev.keel.data.Ids;
import dev.keel.data.LmExample;
import dev.keel.data.PreferencePair;
import dev.keel.data.Repeat;
import dev.keel.loss.DpoLossType;
import dev.keel.model.CausalLM;
import dev.keel.model.EmbeddedModel;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.LmTask;
import dev.keel.train.RewardTask;
import dev.keel.train.rl.Grpo;
import dev.keel.train.rl.Ppo;
import dev.keel.train.rl.Prompts;
import dev.keel.train.TrainingLoop;

/**
 * The controlled sentiment experiment of the DPO paper (Rafailov et al. 2023, Sec. 6.1, Fig. 2) in
 * miniature, on Keel's embedded model: SFT on review sentences; prompts that are 2-8 token prefixes of
 * reviews; preference pairs sampled from the SFT model and labelled by the gold reward (VADER); a reward model
 * trained on them; then PPO (learned and gold reward), DPO at several β, IPO, GRPO and best-of-N, each
 * evaluated on held-out prompts by gold reward, KL to the SFT model, win rate and cost.
 */
public final class SentimentExperiment {
    private final ExperimentConfig cfg;
    private final Path out;
    private final RewardSource gold;
    private final Consumer<String> log;

    public SentimentExperiment(ExperimentConfig cfg, Path out, RewardSource gold, Consumer<String> log) {
        this.cfg = cfg;
        this.out = out;
        this.gold = gold;
        this.log = log;
    }

    /** One evaluated method: its numbers, cost, training curve and samples. */
    public record MethodResult(String name, Family family, String setting, PolicyEval.Result eval, Cost.Spent cost,
                               List<Map<String, Object>> curve, List<PathPoint> path,
                               Optional<Intervals.Proportion> heldOutPairAccuracy) {
        public MethodResult {
            path = List.copyOf(path);
        }
    }

    /**
     * One evaluation along a run: after {@code fraction} of its training, the KL to the SFT model and the mean
     * gold reward on the held-out prompts.
     */
    public record PathPoint(double fraction, double kl, double gold) {}

    /**
     * Everything the report shows of one run of the pipeline.
     *
     * @param rmHeldOutAccuracy the reward model's accuracy on the held-out pairs, with its 95% interval
     * @param pairs             preference pairs made (train and held out)
     * @param ties              pairs left out because their gold rewards differed by less than the margin
     */
    public record Results(ExperimentConfig config, Intervals.Proportion rmHeldOutAccuracy, int pairs, int ties,
                          List<String> evalPromptTexts, List<MethodResult> methods, double totalSeconds) {}

    private Tokenizer tok;
    private long pad;
    private Set<Long> eos;
    private List<long[]> evalPrompts;
    private List<String> evalTexts;
    private CausalLM sft;
    private Path sftDir;
    private PolicyEval.Samples sftSamples;

    /**
     * The pipeline once per seed ({@code cfg.seed()}, {@code + 1}, ...): into {@code out} for one seed, into
     * {@code out/seed-<s>/} for several.
     */
    public static List<Results> runSeeds(ExperimentConfig cfg, Path out, RewardSource gold, Consumer<String> log,
                                         boolean rewardModelOnly) throws IOException {
        List<Results> runs = new ArrayList<>();
        for (int i = 0; i < cfg.seeds(); i++) {
            ExperimentConfig c = cfg.withSeed(cfg.seed() + i);
            if (cfg.seeds() > 1) {
                log.accept("seed " + c.seed() + " (" + (i + 1) + " of " + cfg.seeds() + ")");
            }
            runs.add(new SentimentExperiment(c, cfg.seeds() == 1 ? out : out.resolve("seed-" + c.seed()), gold, log)
                    .stopAfterRewardModel(rewardModelOnly).run());
        }
        return runs;
    }

    private boolean stopAfterRewardModel;

    /** Stops after the reward model (SFT, pairs, reward model): for studying the reward model alone. */
    public SentimentExperiment stopAfterRewardModel(boolean stop) {
        this.stopAfterRewardModel = stop;
        return this;
    }

    public Results run() throws IOException {
        long t0 = System.nanoTime();
        Files.createDirectories(out);
        Path base = EmbeddedModel.path();
        torch.manual_seed(cfg.seed());
        List<MethodResult> methods = new ArrayList<>();
        try (Tokenizer t = Tokenizer.load(base)) {
            tok = t;
            pad = tok.padId();
            eos = Set.of(tok.eosId());
            List<String> sentences = SentimentData.reviewSentences();
            Collections.shuffle(sentences, new Random(cfg.seed()));
            int nEval = Math.min(cfg.data().evalPrompts(), sentences.size() / 5);
            List<String> held = sentences.subList(0, nEval);
            List<String> train = sentences.subList(nEval, sentences.size());
            List<String> sftSentences = cfg.data().sftSentences() > 0 && cfg.data().sftSentences() < train.size()
                    ? train.subList(0, cfg.data().sftSentences()) : train;

            // 1. SFT on the training sentences, positive and negative alike
            log.accept("1/6 supervised fine-tuning of keel-base on " + sftSentences.size() + " review sentences");
            Cost c = Cost.start();
            sftDir = out.resolve("sft");
            CausalLM sftModel = ModelFiles.load(base, null, null);
            List<Map<String, Object>> sftCurve = new ArrayList<>();
            List<LmExample> sftData = new ArrayList<>();
            for (String s : sftSentences) {
                long[] ids = Ids.concat(tok.encode(s, true), new long[] {tok.eosId()});
                sftData.add(new LmExample(0, ids, Ids.ones(ids.length)));
            }
            Arms.loop(cfg, new CausalLMState(sftModel, base), new LmTask(sftModel, pad), 5e-4, cfg.training().sftEpochs(), 16, sftDir, sftCurve)
                    .run(sftData, List.of(), false);
            sft = sftModel;
            freeze(sft);
            Cost.Spent sftCost = c.stop();

            // 2. prompts: 2-8 token prefixes
            Random r = new Random(cfg.seed() + 1);
            evalPrompts = new ArrayList<>();
            evalTexts = new ArrayList<>();
            for (String s : held) {
                SentimentData.addPrefix(tok, s, r, evalPrompts, evalTexts);
            }
            List<long[]> trainPrompts = new ArrayList<>();
            List<String> trainTexts = new ArrayList<>();
            for (String s : train) {
                SentimentData.addPrefix(tok, s, r, trainPrompts, trainTexts);
            }
            // the baseline's samples are drawn with their own seed, independent of every policy's
            sftSamples = PolicyEval.sample(sft, evalPrompts, evalTexts, cfg.data().maxNewTokens(), cfg.seed() + 98, eos, pad,
                    this::decode, gold, 64);
            methods.add(new MethodResult("SFT", Family.SFT, "-", new PolicyEval.Result(PolicyEval.mean(sftSamples.gold()),
                    PolicyEval.std(sftSamples.gold()), 0, 0.5, sftSamples), sftCost, sftCurve,
                    List.of(new PathPoint(0, 0, PolicyEval.mean(sftSamples.gold()))), Optional.empty()));
            // the table's SFT win rate is 0.5 by definition (against itself)
            Arms arms = new Arms(cfg, out, gold, log, tok, sft, sftDir, evalPrompts, evalTexts, sftSamples);

            // 3. preference pairs sampled from the SFT model, labelled by the gold reward
            log.accept("2/6 sampling " + cfg.data().samplesPerPrompt() + " completions for " + cfg.data().pairPrompts()
                    + " prompts and labelling pairs with the gold reward");
            List<PreferencePair> pairs = pairs(trainPrompts.subList(0, Math.min(cfg.data().pairPrompts(), trainPrompts.size())),
                    trainTexts);
            // split by prompt, so no prompt is on both sides; every method learns from the same training pairs
            List<PreferencePair> rmTrain = new ArrayList<>();
            List<PreferencePair> rmEval = new ArrayList<>();
            for (PreferencePair p : pairs) {
                (p.line() % 5 == 4 ? rmEval : rmTrain).add(p);
            }

            // 4. reward model
            log.accept("3/6 training a reward model on " + rmTrain.size() + " pairs (" + rmEval.size() + " held out)");
            Path rmDir = out.resolve("reward-model");
            CausalLM rm = ModelFiles.load(sftDir, null, null, Head.SCORE);
            List<Map<String, Object>> rmCurve = new ArrayList<>();
            TrainingLoop.Result rmRes = Arms.loop(cfg, new CausalLMState(rm, sftDir), new RewardTask(rm, pad, 0.01), 1e-4,
                    cfg.training().rmEpochs(), 16, rmDir, rmCurve).run(rmTrain, rmEval, false);
            rmAccuracy = Intervals.wilson((int) Math.round(rmRes.eval().get("eval_accuracy") * rmEval.size()),
                    rmEval.size());
            log.accept(String.format(Locale.ROOT, "   reward model held-out accuracy %.3f [%.3f, %.3f] on %d pairs",
                    rmAccuracy.value(), rmAccuracy.low(), rmAccuracy.high(), rmEval.size()));
            rm = null;
            System.gc();
            if (stopAfterRewardModel) {
                return new Results(cfg, rmAccuracy, pairCount, tieCount, evalTexts, methods, (System.nanoTime() - t0) / 1e9);
            }

            // 5. align
            log.accept("4/6 aligning: DPO, IPO, PPO, GRPO");
            // every DPO-family run shares one reference pass (the SFT model over the same pairs); each run's cost
            // still includes it, as a DPO run on its own would pay it
            Cost refCost = Cost.start();
            ReferenceLogps reference = ReferenceLogps.compute(sft, rmTrain, 32, pad);
            Cost.Spent referencePass = refCost.stop();
            arms.heldOutPairs(rmEval, ReferenceLogps.compute(sft, rmEval, 32, pad));
            for (double beta : cfg.methods().dpoBetas()) {
                methods.add(arms.dpo(DpoLossType.SIGMOID, beta, Family.DPO, rmTrain, reference, referencePass));
            }
            if (cfg.methods().ipoBeta() > 0) {
                methods.add(arms.dpo(DpoLossType.IPO, cfg.methods().ipoBeta(), Family.IPO, rmTrain, reference, referencePass));
            }
            Prompts rlPrompts = new Prompts(trainPrompts, trainTexts, tok);
            try (ModelReward learned = new ModelReward(rmDir, null, 32)) {
                for (double kl : cfg.methods().ppoKlCoefs()) {
                    methods.add(arms.rl(Ppo.defaults(), Family.PPO_LEARNED, kl, learned, rlPrompts, cfg.methods().ppoIterations()));
                }
                if (cfg.methods().ppoGold()) {
                    methods.add(arms.rl(Ppo.defaults(), Family.PPO_GOLD, cfg.methods().ppoKlCoefs().get(0), gold, rlPrompts,
                            cfg.methods().ppoIterations()));
                }
                if (cfg.methods().grpoIterations() > 0) {
                    methods.add(arms.rl(Grpo.of(4), Family.GRPO_LEARNED, cfg.methods().ppoKlCoefs().get(0), learned, rlPrompts,
                            cfg.methods().grpoIterations()));
                }
                methods.addAll(Questions.run(cfg, arms, learned, rlPrompts, train, rmTrain,
                        trainPrompts.subList(0, Math.min(cfg.data().pairPrompts(), trainPrompts.size())), tok, sft, sftDir,
                        gold, out, log));
                log.accept("5/6 best-of-N sampling from the SFT model, chosen by the learned reward");
                for (int n : cfg.methods().bestOfN()) {
                    methods.add(arms.bestOfN(n, learned));
                }
            }
        }
        log.accept("6/6 writing the report");
        return new Results(cfg, rmAccuracy, pairCount, tieCount, evalTexts, methods, (System.nanoTime() - t0) / 1e9);
    }

    private Intervals.Proportion rmAccuracy;
    private int pairCount;
    private int tieCount;

    private List<PreferencePair> pairs(List<long[]> prompts, List<String> texts) {
        int k = cfg.data().samplesPerPrompt();
        List<long[]> rep = Repeat.each(prompts, k);
        List<String> repText = Repeat.each(texts.subList(0, prompts.size()), k);
        PolicyEval.Samples s = PolicyEval.sample(sft, rep, repText, cfg.data().maxNewTokens(), cfg.seed() + 5, eos, pad,
                this::decode, gold, 64);
        List<PreferencePair> out = new ArrayList<>();
        PairLabels.Picked picked = PairLabels.pick(s.gold(), s.tokens(), k, cfg.data().minGoldMargin());
        for (int[] p : picked.pairs()) {
            int i = p[0] / k;
            out.add(new PreferencePair(i, prompts.get(i), s.tokens().get(p[0]), s.tokens().get(p[1]), 0));
        }
        tieCount = picked.ties();
        pairCount = out.size();
        if (out.size() < 8) {
            throw new KeelException("only " + out.size() + " preference pairs: the SFT samples are too uniform");
        }
        Collections.shuffle(out, new Random(cfg.seed() + 2));
        return out;
    }

    private String decode(long[] ids) {
        return tok.decode(ids, true);
    }

    private static void freeze(CausalLM m) {
        m.parameters().forEach(t -> t.set_requires_grad(false));
    }
}
