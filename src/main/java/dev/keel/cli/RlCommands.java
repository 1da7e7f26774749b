package dev.keel.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.ChatEncoder;
import dev.keel.data.Jsonl;
import dev.keel.dist.Distributed;
import dev.keel.model.CausalLM;
import dev.keel.model.LoraConfig;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.RewardSource;
import dev.keel.reward.Rewards;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.OptimConfig;
import dev.keel.train.rl.Critic;
import dev.keel.train.rl.Grpo;
import dev.keel.train.rl.OnlineDpo;
import dev.keel.train.rl.Ppo;
import dev.keel.train.rl.Prompts;
import dev.keel.train.rl.RlAlgorithm;
import dev.keel.train.rl.RlConfig;
import dev.keel.train.rl.RlTrainer;
import dev.keel.train.rl.Rloo;

/** The reward-based trainers: ppo, rloo and grpo share everything but the algorithm's own settings. */
final class RlCommands {
    private RlCommands() {}

    /** TRL's optimizer defaults for its RL trainers: lr 3e-6, ε 1e-5, clipping at 0.5. */
    static final OptimConfig RL_OPTIM = OptimConfig.defaults(3e-6).withEps(1e-5).withMaxGradNorm(0.5);

    /** What run_config.json records of an RL run. */
    record Settings(Path policy, List<String> rewards, List<Double> rewardWeights, Path prompts, Path refModel, boolean chat, String dtype, RlConfig rl,
                    OptimConfig optim, LoraConfig lora) {}

    abstract static class Base implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        RunOptions run;

        @Mixin
        RlOptions rl;

        @Mixin
        OptimOptions optimizer;

        @Mixin
        LoraOptions lora;

        abstract RlAlgorithm<?> algorithm();

        /** Passes over each rollout: PPO's --num-ppo-epochs, GRPO's and RLOO's --num-iterations. */
        abstract int epochs();

        /** The optimizer defaults the command's options apply over (TRL's for this trainer). */
        OptimConfig optimDefaults() {
            return RL_OPTIM;
        }

        /** The settings as the command runs them, after its own options. */
        RlConfig adjust(RlConfig cfg) {
            return cfg;
        }

        @Override
        public Integer call() {
            Path out = run.out();
            RlConfig perRank = adjust(rl.config(algorithm(), epochs(), run.seed));
            OptimConfig optim = optimizer.config(optimDefaults());
            String name = perRank.algorithm().name();
            Main.startNatives();
            Distributed dist = run.distributed();
            RlTrainer.requireDataParallel(perRank.algorithm(), dist);
            RlConfig cfg = perRank.forRanks(dist.size());
            torch.manual_seed(run.seed);
            DType dt = DType.parseFloat(rl.dtype);
            CausalLM policy = ModelFiles.load(rl.policy, dt, null);
            LoraConfig loraConfig = lora.apply(policy, run.seed);
            TrainCommands.sameVocabulary(rl.policy, policy.config().vocabSize(), rl.refModel, "--ref-model");
            // with LoRA and no --ref-model, the reference is the policy's own base (its adapters off): one copy
            CausalLM reference = loraConfig != null && rl.refModel == null ? policy
                    : ModelFiles.load(rl.refModel != null ? rl.refModel : rl.policy, dt, null);
            try (Tokenizer tok = Tokenizer.load(rl.policy);
                 RewardSource reward = Rewards.open(rl.rewards, rl.rewardWeights, 16)) {
                Prompts prompts = readPrompts(tok, policy.config().vocabSize(), policy.config().maxPositions());
                int longest = prompts.ids().stream().mapToInt(p -> p.length).max().orElse(0);
                dev.keel.generate.GenerationBudget.check(policy.config(), cfg.rolloutSize(), longest,
                        cfg.sampling().maxNewTokens(), policy.dtype().bytes(), "--batch-size x --num-generations");
                Critic critic = cfg.algorithm().usesCritic()
                        ? Critic.start(rl.policy, tok, reward, dt, spec.commandLine().getErr()::println) : null;
                if (critic != null && loraConfig != null) {
                    LoraOptions.add(critic.model(), loraConfig); // the value model trains adapters and its head too
                }
                Set<Long> eos = new LinkedHashSet<>();
                policy.config().eosTokenIds().forEach(i -> eos.add((long) i));
                if (tok.eosId() != null) {
                    eos.add(tok.eosId());
                }
                RunFolder.prepare(dist, out, rl.resume, name, new Settings(rl.policy, rl.rewards, rl.rewardWeights, rl.prompts, rl.refModel, rl.chat,
                        rl.dtype, cfg, optim, loraConfig));
                spec.commandLine().getErr().printf("keel %s: %d prompts, %d iterations of %d sequences, reward %s%n",
                        name, prompts.size(), cfg.sampling().iterations(), cfg.rolloutSize(), reward.name());
                RlTrainer t = new RlTrainer(cfg, optim, policy, reference, critic, reward, prompts,
                        tok.padId() != null ? tok.padId() : 0, eos, out).onLog(m -> spec.commandLine().getErr()
                        .printf("  step %s: score %.3f, kl %.3f%n", m.get("step"), m.get("objective/scores"), m.get("objective/kl")))
                        .onInfo(spec.commandLine().getErr()::println).checkpoints(rl.saveEvery, rl.saveTotalLimit)
                        .distributed(dist);
                Map<String, Object> last = t.run(new CausalLMState(policy, rl.policy), rl.resume);
                spec.commandLine().getOut().printf("%s: %d iterations; last %s%n", name, cfg.sampling().iterations(), last);
            }
            return 0;
        }

        /** Every prompt, checked before anything is written: ids in the vocabulary, room for --max-new-tokens. */
        private Prompts readPrompts(Tokenizer tok, long vocab, long positions) {
            ChatEncoder chat = null;
            if (rl.chat) {
                chat = TrainCommands.conversationEncoder(rl.policy, tok);
                if (chat == null) {
                    throw new dev.keel.KeelException(rl.policy + ": --chat needs a chat_template in tokenizer_config.json");
                }
            }
            PromptEncoder enc = new PromptEncoder(tok, chat);
            List<long[]> ids = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            for (Jsonl.Line l : Jsonl.read(rl.prompts)) {
                long[] p = enc.record(l, vocab);
                if ((long) p.length + rl.maxNewTokens > positions) {
                    throw new dev.keel.KeelException(l.where() + ": the prompt (" + p.length + " tokens) + --max-new-tokens "
                            + rl.maxNewTokens + " exceeds the policy's " + positions + " positions");
                }
                ids.add(p);
                texts.add(l.node().path("prompt").isTextual() ? l.node().get("prompt").asText() : tok.decode(p, true));
            }
            return new Prompts(ids, texts, tok);
        }
    }

    @Command(name = "ppo", mixinStandardHelpOptions = true,
            description = {"RL fine-tuning with PPO: the policy samples completions for the prompts, the reward scores "
                    + "them, and PPO maximises reward minus beta * KL to the frozen reference, with a value model "
                    + "(from the reward model when it shares the policy's tokenizer, else zero-initialised), GAE, "
                    + "whitened advantages and clipped policy and value losses.",
                    "Optimizer defaults (TRL's): --lr 3e-6, --adam-eps 1e-5, --max-grad-norm 0.5.",
                    "Metrics (TRL's names) go to metrics.jsonl every iteration."})
    static final class PpoCmd extends Base {
        @Option(names = "--cliprange-value", defaultValue = "0.2", description = "epsilon_v of the clipped value loss. Default: ${DEFAULT-VALUE}.")
        double clipRangeValue;

        @Option(names = "--vf-coef", defaultValue = "0.1", description = "Weight of the value loss. Default: ${DEFAULT-VALUE}.")
        double vfCoef;

        @Option(names = "--gamma", defaultValue = "1.0", description = "Discount. Default: ${DEFAULT-VALUE}.")
        double gamma;

        @Option(names = "--lam", defaultValue = "0.95", description = "GAE lambda. Default: ${DEFAULT-VALUE}.")
        double lam;

        @Option(names = "--whiten-rewards", description = "Whiten per-token rewards before GAE.")
        boolean whitenRewards;

        @Option(names = "--whiten-advantages", negatable = true, defaultValue = "true", fallbackValue = "true",
                description = "Whiten the GAE advantages over the rollout (TRL always does). Default: ${DEFAULT-VALUE}.")
        boolean whitenAdvantages;

        @Option(names = "--num-ppo-epochs", defaultValue = "4", description = "Passes over each rollout. Default: ${DEFAULT-VALUE}.")
        int epochs;

        @Override
        int epochs() {
            return epochs;
        }

        @Override
        RlAlgorithm<?> algorithm() {
            return new Ppo(vfCoef, clipRangeValue, gamma, lam, whitenRewards, whitenAdvantages);
        }
    }

    /** The critic-free trainers sample k completions per prompt. */
    abstract static class Grouped extends Base {
        @Option(names = "--num-generations", defaultValue = "4", description = "k. Default: ${DEFAULT-VALUE}.")
        int k;

        @Option(names = "--num-iterations", defaultValue = "1", description = "Passes over each rollout (TRL's "
                + "num_iterations; 1 is on-policy). Default: ${DEFAULT-VALUE}.")
        int numIterations;

        @Override
        int epochs() {
            if (numIterations < 1) {
                throw new IllegalArgumentException("--num-iterations must be at least 1, got " + numIterations);
            }
            return numIterations;
        }
    }

    @Command(name = "rloo", mixinStandardHelpOptions = true,
            description = {"REINFORCE Leave-One-Out: k samples per prompt, the others' mean score as the baseline, "
                    + "the KL penalty in the sequence reward; no value model.",
                    "Optimizer defaults (TRL's): --lr 3e-6, --adam-eps 1e-5, --max-grad-norm 0.5."})
    static final class RlooCmd extends Grouped {
        @Option(names = "--normalize-advantages", description = "Standardise the advantages over the batch "
                + "(TRL's normalize_advantages).")
        boolean normalizeAdvantages;

        @Override
        RlAlgorithm<?> algorithm() {
            return new Rloo(k, normalizeAdvantages);
        }
    }

    @Command(name = "grpo", mixinStandardHelpOptions = true,
            description = {"Group Relative Policy Optimization: k samples per prompt, scores normalised within the "
                    + "group as advantages, beta * k3 KL to the reference in the loss; no value model.",
                    "Optimizer defaults (TRL's): --lr 3e-6, --adam-eps 1e-5, --max-grad-norm 0.5."})
    static final class GrpoCmd extends Grouped {
        @Option(names = "--loss-type", defaultValue = "dapo", description = "grpo (sequence means), bnpo (batch token "
                + "mean), dr_grpo (divided by batch x --max-new-tokens) or dapo (tokens of the step). Default: ${DEFAULT-VALUE}.")
        String lossType;

        @Option(names = "--scale-rewards", defaultValue = "group", description = "Divide centred scores by the "
                + "group's std, the batch's, or none. Default: ${DEFAULT-VALUE}.")
        String scaleRewards;

        @Option(names = "--epsilon-high", description = "Upper clip bound (clip-higher, DAPO); default: --cliprange.")
        Double epsilonHigh;

        @Option(names = "--mask-truncated-completions", description = "Leave completions cut by --max-new-tokens "
                + "out of the loss.")
        boolean maskTruncated;

        @Override
        RlAlgorithm<?> algorithm() {
            return new Grpo(k, dev.keel.loss.Grpo.LossType.parse(lossType),
                    dev.keel.loss.Grpo.ScaleRewards.parse(scaleRewards),
                    epsilonHigh != null ? java.util.OptionalDouble.of(epsilonHigh) : java.util.OptionalDouble.empty(),
                    maskTruncated);
        }
    }

    @Command(name = "online-dpo", mixinStandardHelpOptions = true,
            description = {"Online DPO (Guo et al. 2024): two completions per prompt from the current policy, the "
                    + "reward picks the chosen one, and one DPO step per batch against the frozen reference "
                    + "(TRL's OnlineDPOTrainer). Log-probs are the model's own (temperature 1).",
                    "Optimizer defaults (TRL's): --lr 5e-7, --adam-eps 1e-8, --max-grad-norm 1.0.",
                    "Metrics (TRL's names, rewards/margins, rewards/accuracies, ...) go to metrics.jsonl."})
    static final class OnlineDpoCmd extends Base {
        @Option(names = "--beta", defaultValue = "0.1", description = "beta of the DPO loss. Default: ${DEFAULT-VALUE}.")
        double beta;

        @Option(names = "--loss-type", defaultValue = "sigmoid", description = "sigmoid or ipo. Default: ${DEFAULT-VALUE}.")
        String lossType;

        @Override
        RlAlgorithm<?> algorithm() {
            return new OnlineDpo(beta, dev.keel.loss.DpoLossType.parse(lossType));
        }

        @Override
        int epochs() {
            return 1;
        }

        @Override
        OptimConfig optimDefaults() {
            return OptimConfig.defaults(5e-7);
        }

        /** One DPO step per batch; the logged KL penalty (objective/non_score_reward) is -beta * KL, as TRL's. */
        @Override
        RlConfig adjust(RlConfig cfg) {
            if (spec.commandLine().getParseResult().hasMatchedOption("--kl-coef")) {
                throw new IllegalArgumentException("online-dpo's KL strength is --beta; leave out --kl-coef");
            }
            if (cfg.kl().adaptive().isPresent() || cfg.kl().refEmaDecay() > 0) {
                throw new IllegalArgumentException("online-dpo has a frozen reference and beta fixed: leave out "
                        + "--kl-target and --ref-ema-decay");
            }
            return cfg.withKl(k -> new RlConfig.KlPenalty(beta, k.estimator(), k.adaptive(), 0));
        }
    }
}
