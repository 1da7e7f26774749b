package dev.keel.train.rl;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalDouble;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import dev.keel.KeelException;
import dev.keel.loss.LogProbs;
import dev.keel.loss.Masked;
import dev.keel.loss.PpoLoss;
import dev.keel.model.BackwardPass;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;
import dev.keel.train.OptimConfig;
import dev.keel.train.Optimizers;

/**
 * The update half of an RL iteration: the algorithm's targets for the rollout, then epochs of shuffled
 * minibatches, each one optimizer step on the algorithm's loss (policy and, for PPO, value model together).
 * A non-finite loss stops the run before its step.
 */
final class RlUpdater {
    private final RlConfig cfg;
    private final OptimConfig optim;
    private final CausalLM policy;
    private final Critic critic;
    private final AdamW opt;
    private final List<List<Tensor>> clipGroups;
    private final long totalUpdates;
    private long updates;

    RlUpdater(RlConfig cfg, OptimConfig optim, CausalLM policy, Critic critic, AdamW opt) {
        this.cfg = cfg;
        this.optim = optim;
        this.policy = policy;
        this.critic = critic;
        this.opt = opt;
        // the policy's and the value model's gradients are clipped each on its own: the value loss's gradients
        // are larger and, clipped together, would shrink the policy's step (TRL's PPOTrainer and
        // lm-human-preferences do not clip at all; --max-grad-norm 0 does the same here)
        this.clipGroups = critic == null ? List.of(policy.parameters())
                : List.of(policy.parameters(), critic.model().parameters());
        int n = cfg.rolloutSize();
        this.totalUpdates = (long) cfg.sampling().iterations() * cfg.updates().epochs()
                * ((n + cfg.miniBatchSize() - 1) / cfg.miniBatchSize());
    }

    /** Optimizer steps taken so far (the learning-rate schedule and minibatch order follow it). */
    long updates() {
        return updates;
    }

    /** Continues a resumed run after {@code done} optimizer steps. */
    void resumeAt(long done) {
        this.updates = done;
    }

    /** Sums over the minibatch steps of one update. */
    private static final class Sums {
        double pg, vf, clip, vClip, kl, ent, ratio;
        final java.util.Map<String, Double> extra = new java.util.LinkedHashMap<>();
        int count;
    }

    <T> UpdateStats update(RlAlgorithm<T> algorithm, Scored rollout, double klCoef, int iteration) {
        T targets = algorithm.targets(rollout, critic, klCoef);
        int n = cfg.rolloutSize();
        Random shuffle = new Random(cfg.seed() * 31 + updates);
        Sums sums = new Sums();
        for (int epoch = 0; epoch < cfg.updates().epochs(); epoch++) {
            List<Integer> perm = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                perm.add(i);
            }
            Collections.shuffle(perm, shuffle);
            for (int s0 = 0; s0 < n; s0 += cfg.miniBatchSize()) {
                long[] ix = perm.subList(s0, Math.min(n, s0 + cfg.miniBatchSize())).stream()
                        .mapToLong(Integer::longValue).toArray();
                try (PointerScope scope = new PointerScope(); BackwardPass pass = BackwardPass.open()) {
                    step(algorithm, rollout, targets, ix, klCoef, iteration, sums, pass);
                }
            }
        }
        boolean ppo = critic != null;
        return new UpdateStats(sums.kl / sums.count, sums.clip / sums.count, sums.ent / sums.count, sums.pg / sums.count,
                ppo ? OptionalDouble.of(sums.vf / sums.count) : OptionalDouble.empty(),
                ppo ? OptionalDouble.of(sums.vClip / sums.count) : OptionalDouble.empty(), sums.ratio / sums.count,
                optim.lrAt(Math.max(0, updates - 1), totalUpdates), means(sums));
    }

    private static java.util.Map<String, Double> means(Sums sums) {
        java.util.Map<String, Double> m = new java.util.LinkedHashMap<>();
        sums.extra.forEach((k, v) -> m.put(k, v / sums.count));
        return m;
    }

    private <T> void step(RlAlgorithm<T> algorithm, Scored r, T targets, long[] ix, double klCoef, int iteration,
                          Sums sums, BackwardPass pass) {
        Tensor index = Tensors.longs(ix, policy.device());
        Rollout rows = r.rollout().select(ix);
        Tensor mask = rows.respMask.to(org.bytedeco.pytorch.global.torch.ScalarType.Float);
        Tensor[] lp = rows.logProbs(policy, cfg.algorithm().logProbTemperature(cfg.sampling().temperature()));
        Tensor logpOld = r.logpOld().index_select(0, index);
        Minibatch mb = new Minibatch(rows, mask, lp[0], logpOld, r.logpRef().index_select(0, index));
        RlAlgorithm.StepLoss loss = algorithm.loss(mb, algorithm.select(targets, index), critic, klCoef, cfg);
        double pgLoss = Tensors.item(loss.policy());
        if (!Double.isFinite(Tensors.item(loss.total()))) {
            throw new KeelException("a non-finite loss at iteration " + (iteration + 1) + " (loss/policy " + pgLoss
                    + "); lower --lr or raise --kl-coef");
        }
        sums.pg += pgLoss;
        sums.clip += Tensors.item(loss.clipFrac());
        sums.kl += Tensors.item(loss.approxKl());
        loss.value().ifPresent(v -> {
            sums.vf += Tensors.item(v.loss());
            sums.vClip += Tensors.item(v.clipFrac());
        });
        loss.metrics().forEach((k, v) -> sums.extra.merge(k, v, Double::sum));
        pass.backward(loss.total());
        Optimizers.stepClippingEach(opt, clipGroups, optim.lrAt(updates, totalUpdates), optim.maxGradNorm());
        updates++;
        try (NoGradGuard ng = new NoGradGuard()) {
            sums.ent += Tensors.item(Masked.mean(LogProbs.entropy(lp[1].detach()), mask));
            sums.ratio += Tensors.item(PpoLoss.meanRatio(lp[0], logpOld, mask));
        }
        sums.count++;
    }
}
