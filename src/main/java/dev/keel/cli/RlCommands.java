package dev.keel.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.data.ChatEncoder;
import dev.keel.data.Jsonl;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.DType;
import dev.keel.model.io.ModelFiles;
import dev.keel.reward.ModelReward;
import dev.keel.reward.RewardSource;
import dev.keel.reward.Rewards;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.RlConfig;
import dev.keel.train.RlTrainer;

/** The reward-based trainers: ppo, rloo and grpo share everything but the update. */
final class RlCommands {
    private RlCommands() {}

    abstract static class Base implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        RlOptions rl;

        @Option(names = "--out", description = "Output folder: final policy, metrics.jsonl, run_config.json.")
        Path out;

        @Option(names = "--seed", defaultValue = "42")
        long seed;

        @Option(names = "--lr", description = "Learning rate (default: 3e-6, TRL's).")
        Double lr;

        @Option(names = "--max-grad-norm", defaultValue = "0.5", description = "Default: ${DEFAULT-VALUE}.")
        double maxGradNorm;

        @Option(names = "--lr-scheduler", defaultValue = "linear")
        String scheduler;

        abstract RlConfig.Algorithm algorithm();

        int samplesPerPrompt() {
            return 1;
        }

        @Override
        public Integer call() throws IOException {
            TrainOptions.required(out, "--out");
            RlConfig cfg = rl.config(algorithm(), samplesPerPrompt(), 4, seed);
            TrainOptions optOpts = new TrainOptions();
            optOpts.lr = lr;
            optOpts.maxGradNorm = maxGradNorm;
            optOpts.scheduler = scheduler;
            optOpts.beta1 = 0.9;
            optOpts.beta2 = 0.999;
            optOpts.eps = 1e-5;
            var optim = optOpts.optim(3e-6);
            Main.startNatives();
            torch.manual_seed(seed);
            DType dt = DType.parseFloat(rl.dtype);
            CausalLM policy = ModelFiles.load(rl.policy, dt, null);
            CausalLM reference = ModelFiles.load(rl.refModel != null ? rl.refModel : rl.policy, dt, null);
            try (Tokenizer tok = Tokenizer.load(rl.policy);
                 RewardSource reward = Rewards.open(rl.reward, 16)) {
                RlTrainer.TokenizedPrompts prompts = readPrompts(tok, policy.config().vocabSize());
                CausalLM value = algorithm() == RlConfig.Algorithm.PPO ? valueModel(reward, dt) : null;
                Set<Long> eos = new LinkedHashSet<>();
                policy.config().eosTokenIds().forEach(i -> eos.add((long) i));
                if (tok.eosId() != null) {
                    eos.add(tok.eosId());
                }
                Map<String, Object> settings = new LinkedHashMap<>();
                settings.put("policy", rl.policy);
                settings.put("reward", rl.reward);
                settings.put("prompts", rl.prompts);
                settings.put("rl", cfg);
                settings.put("optim", optim);
                RunFolder.prepare(out, false, algorithm().name().toLowerCase(), settings);
                spec.commandLine().getErr().printf("keel %s: %d prompts, %d iterations of %d sequences, reward %s%n",
                        algorithm().name().toLowerCase(), prompts.ids().size(), cfg.iterations(), cfg.rolloutSize(),
                        reward.name());
                RlTrainer t = new RlTrainer(cfg, optim, policy, reference, value, reward, prompts,
                        tok.padId() != null ? tok.padId() : 0, eos, out).onLog(m -> spec.commandLine().getErr()
                        .printf("  step %s: score %.3f, kl %.3f%n", m.get("step"), m.get("objective/scores"), m.get("objective/kl")));
                Map<String, Object> last = t.run(new CausalLMState(policy, rl.policy));
                spec.commandLine().getOut().printf("%s: %d iterations; last %s%n", algorithm().name().toLowerCase(),
                        cfg.iterations(), last);
            }
            return 0;
        }

        /** The value model: the reward model's weights when it shares the policy's tokenizer, else the policy's decoder with a zero head. */
        private CausalLM valueModel(RewardSource reward, DType dt) throws IOException {
            if (reward instanceof ModelReward mr) {
                Path rdir = Path.of(mr.name());
                if (sameTokenizer(rl.policy, rdir)) {
                    return ModelFiles.load(rdir, dt, null, Head.SCORE);
                }
                spec.commandLine().getErr().println("keel: the reward model's tokenizer differs from the policy's; "
                        + "the value model starts from the policy with a zero head");
            }
            CausalLM v = ModelFiles.load(rl.policy, dt, null, Head.SCORE);
            try (NoGradGuard ng = new NoGradGuard()) {
                v.weights().get(CausalLM.SCORE).zero_();
            }
            return v;
        }

        private static boolean sameTokenizer(Path a, Path b) throws IOException {
            Path ta = a.resolve("tokenizer.json");
            Path tb = b.resolve("tokenizer.json");
            return Files.isRegularFile(ta) && Files.isRegularFile(tb) && Files.mismatch(ta, tb) == -1;
        }

        private RlTrainer.TokenizedPrompts readPrompts(Tokenizer tok, long vocab) {
            ChatEncoder chat = null;
            if (rl.chat) {
                var t = TrainCommands.chatTemplateOrNull(rl.policy, tok);
                if (t == null) {
                    throw new dev.keel.KeelException(rl.policy + ": --chat needs a chat_template in tokenizer_config.json");
                }
                chat = new ChatEncoder(t, tok);
            }
            PromptEncoder enc = new PromptEncoder(tok, chat);
            List<long[]> ids = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            for (Jsonl.Line l : Jsonl.read(rl.prompts)) {
                long[] p = enc.record(l, vocab);
                ids.add(p);
                texts.add(l.node().path("prompt").isTextual() ? l.node().get("prompt").asText() : tok.decode(p, true));
            }
            return new RlTrainer.TokenizedPrompts(ids, texts, tok);
        }
    }

    @Command(name = "ppo", mixinStandardHelpOptions = true,
            description = {"RL fine-tuning with PPO: the policy samples completions for the prompts, the reward scores "
                    + "them, and PPO maximises reward minus beta * KL to the frozen reference, with a value model "
                    + "(from the reward model when it shares the policy's tokenizer, else zero-initialised), GAE, "
                    + "whitened advantages and clipped policy and value losses.",
                    "Metrics (TRL's names) go to metrics.jsonl every iteration."})
    static final class Ppo extends Base {
        @Override
        RlConfig.Algorithm algorithm() {
            return RlConfig.Algorithm.PPO;
        }
    }

    /** The critic-free trainers sample k completions per prompt. */
    abstract static class Grouped extends Base {
        @Option(names = "--num-generations", defaultValue = "4", description = "k. Default: ${DEFAULT-VALUE}.")
        int k;

        @Override
        int samplesPerPrompt() {
            return k;
        }
    }

    @Command(name = "rloo", mixinStandardHelpOptions = true,
            description = {"REINFORCE Leave-One-Out: k samples per prompt, the others' mean score as the baseline, "
                    + "the KL penalty in the sequence reward; no value model."})
    static final class RlooCmd extends Grouped {
        @Override
        RlConfig.Algorithm algorithm() {
            return RlConfig.Algorithm.RLOO;
        }
    }

    @Command(name = "grpo", mixinStandardHelpOptions = true,
            description = {"Group Relative Policy Optimization: k samples per prompt, scores normalised within the "
                    + "group as advantages, beta * k3 KL to the reference in the loss; no value model."})
    static final class GrpoCmd extends Grouped {
        @Override
        RlConfig.Algorithm algorithm() {
            return RlConfig.Algorithm.GRPO;
        }
    }
}
