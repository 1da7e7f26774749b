package dev.keel.train.rl;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalDouble;
import java.util.Random;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import dev.keel.KeelException;
import dev.keel.dist.Distributed;
import dev.keel.loss.LogProbs;
import dev.keel.loss.Masked;
import dev.keel.loss.PpoLoss;
import dev.keel.model.BackwardPass;
import dev.keel.model.CausalLM;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;
import dev.keel.train.FusedAdamW;
import dev.keel.train.OptimConfig;
import dev.keel.train.Optimizers;

/**
 * The update half of an RL iteration: the algorithm's targets for the rollout, then epochs of shuffled
 * minibatches, each one optimizer step on the algorithm's loss (policy and, for PPO, value model together).
 * A non-finite loss stops the run before its step.
 *
 * <p>Data-parallel, each rank holds its share of the rollout (rows [offset, offset + local) of the whole) and
 * takes the same global minibatches: of each, it runs its own rows with its loss weighted by its share of the
 * minibatch's tokens (the loss is a masked mean over them), the gradients are summed over the ranks, and every
 * rank takes the same step.
 */
final class RlUpdater {
    private final RlConfig cfg;
    private final OptimConfig optim;
    private final CausalLM policy;
    private final Critic critic;
    private final FusedAdamW opt;
    private final List<List<Tensor>> clipGroups;
    private final long totalUpdates;
    private final Distributed dist;
    private final List<Tensor> trainable = new ArrayList<>();
    private long updates;

    RlUpdater(RlConfig cfg, OptimConfig optim, CausalLM policy, Critic critic, FusedAdamW opt, Distributed dist) {
        this.dist = dist;
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
        clipGroups.forEach(trainable::addAll);
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

    /** Sums over the minibatch steps of one update (each minibatch's values weighted by this rank's share). */
    private static final class Sums {
        double pg, vf, clip, vClip, kl, ent, ratio;
        final java.util.Map<String, Double> extra = new java.util.LinkedHashMap<>();
        int count;

        /** Adds a lane's sums (not its count: a minibatch counts once). */
        void add(Sums o) {
            pg += o.pg; vf += o.vf; clip += o.clip; vClip += o.vClip; kl += o.kl; ent += o.ent; ratio += o.ratio;
            o.extra.forEach((k, v) -> extra.merge(k, v, Double::sum));
        }

        /** The shares' sums over the ranks: each minibatch's values over all its rows. */
        void overRanks(Distributed dist) {
            List<String> names = new ArrayList<>(extra.keySet());
            double[] v = new double[7 + names.size()];
            double[] mine = {pg, vf, clip, vClip, kl, ent, ratio};
            System.arraycopy(mine, 0, v, 0, 7);
            for (int i = 0; i < names.size(); i++) {
                v[7 + i] = extra.get(names.get(i));
            }
            double[] s = dist.sum(v);
            pg = s[0]; vf = s[1]; clip = s[2]; vClip = s[3]; kl = s[4]; ent = s[5]; ratio = s[6];
            for (int i = 0; i < names.size(); i++) {
                extra.put(names.get(i), s[7 + i]);
            }
        }
    }

    /**
     * @param rollout this rank's rows of the rollout (all of it for one process)
     * @param offset  where they start in the whole rollout
     */
    <T> UpdateStats update(RlAlgorithm<T> algorithm, Scored rollout, double klCoef, int iteration, int offset) {
        T targets = algorithm.targets(rollout, critic, klCoef, dist::sum);
        int n = cfg.rolloutSize();
        double[] tokens = rowTokens(rollout, offset, n);
        int local = rollout.rollout().responses.length;
        Random shuffle = new Random(cfg.seed() * 31 + updates);
        Sums sums = new Sums();
        for (int epoch = 0; epoch < cfg.updates().epochs(); epoch++) {
            List<Integer> perm = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                perm.add(i);
            }
            Collections.shuffle(perm, shuffle);
            for (int s0 = 0; s0 < n; s0 += cfg.miniBatchSize()) {
                List<Integer> mb = perm.subList(s0, Math.min(n, s0 + cfg.miniBatchSize()));
                List<Integer> mine = mb.stream().filter(i -> i >= offset && i < offset + local).toList();
                List<List<Integer>> parts = lanes(algorithm, mine);
                List<java.util.concurrent.Callable<Sums>> pieces = new ArrayList<>();
                for (List<Integer> part : parts) {
                    long[] ix = part.stream().mapToLong(i -> i - offset).toArray();
                    double share = share(algorithm.lossMean(), mb, part::contains, tokens);
                    // a rank without rows in this minibatch runs one of its rows at weight 0, to join the all-reduce
                    pieces.add(() -> forwardBackward(algorithm, rollout, targets, ix.length > 0 ? ix : new long[] {0},
                            klCoef, iteration, ix.length > 0 ? share : 0));
                }
                for (Sums s : Lanes.run(pieces)) {
                    sums.add(s);
                }
                sums.count++;
                try (PointerScope scope = new PointerScope()) {
                    dist.sumGradients(trainable);
                    Optimizers.stepClippingEach(opt, clipGroups, optim.lrAt(updates, totalUpdates), optim.maxGradNorm());
                }
                updates++;
            }
        }
        sums.overRanks(dist);
        boolean ppo = critic != null;
        return new UpdateStats(sums.kl / sums.count, sums.clip / sums.count, sums.ent / sums.count, sums.pg / sums.count,
                ppo ? OptionalDouble.of(sums.vf / sums.count) : OptionalDouble.empty(),
                ppo ? OptionalDouble.of(sums.vClip / sums.count) : OptionalDouble.empty(), sums.ratio / sums.count,
                optim.lrAt(Math.max(0, updates - 1), totalUpdates), means(sums));
    }

    /**
     * This rank's share of a minibatch's loss: of its response tokens when the loss is a mean over tokens, of its
     * sequences when it is a mean over sequences (so the ranks' weighted losses add up to the whole minibatch's).
     *
     * @param minibatch rows of the whole rollout in the minibatch
     * @param offset    the first row of the whole rollout this rank holds
     * @param local     how many rows it holds
     * @param tokens    response tokens of every row of the whole rollout
     */
    static double share(RlAlgorithm.LossMean mean, List<Integer> minibatch, int offset, int local, double[] tokens) {
        return share(mean, minibatch, i -> i >= offset && i < offset + local, tokens);
    }

    /** As {@link #share(RlAlgorithm.LossMean, List, int, int, double[])} for the rows {@code own} holds. */
    static double share(RlAlgorithm.LossMean mean, List<Integer> minibatch, java.util.function.IntPredicate own,
                        double[] tokens) {
        double all = 0;
        double owned = 0;
        int rows = 0;
        for (int i : minibatch) {
            all += tokens[i];
            if (own.test(i)) {
                owned += tokens[i];
                rows++;
            }
        }
        return mean == RlAlgorithm.LossMean.TOKENS && all > 0 ? owned / all : (double) rows / minibatch.size();
    }

    /**
     * This rank's rows of a minibatch split for {@link Lanes}: in two halves when there are two lanes, at least two
     * rows, a loss that splits over rows as over ranks ({@link RlAlgorithm#dataParallel}) and a backward that adds up
     * the same in parts ({@link BackwardPass#splittable}); else whole.
     */
    private List<List<Integer>> lanes(RlAlgorithm<?> algorithm, List<Integer> rows) {
        boolean splittable = BackwardPass.splittable(policy, critic == null ? null : critic.model());
        if (Lanes.count() < 2 || rows.size() < 2 || !algorithm.dataParallel() || !splittable) {
            return List.of(rows);
        }
        return Lanes.halves(rows);
    }

    /** Response tokens of every row of the whole rollout (each rank fills its rows; the ranks sum). */
    private double[] rowTokens(Scored rollout, int offset, int n) {
        double[] t = new double[n];
        float[] mine = Tensors.toFloats(Tensors.sum(rollout.mask(), 1, false));
        for (int i = 0; i < mine.length; i++) {
            t[offset + i] = mine[i];
        }
        return dist.sum(t);
    }

    private static java.util.Map<String, Double> means(Sums sums) {
        java.util.Map<String, Double> m = new java.util.LinkedHashMap<>();
        sums.extra.forEach((k, v) -> m.put(k, v / sums.count));
        return m;
    }

    /**
     * The forward and backward of rows {@code ix}, whose loss is {@code share} of the minibatch's (1 for one process
     * and one lane), and what they add to the update's sums (weighted by the share).
     */
    private <T> Sums forwardBackward(RlAlgorithm<T> algorithm, Scored r, T targets, long[] ix, double klCoef,
                                     int iteration, double share) {
        Sums sums = new Sums();
        try (PointerScope scope = new PointerScope(); BackwardPass pass = BackwardPass.open()) {
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
            sums.pg += share * pgLoss;
            sums.clip += share * Tensors.item(loss.clipFrac());
            sums.kl += share * Tensors.item(loss.approxKl());
            loss.value().ifPresent(v -> {
                sums.vf += share * Tensors.item(v.loss());
                sums.vClip += share * Tensors.item(v.clipFrac());
            });
            loss.metrics().forEach((k, v) -> sums.extra.merge(k, share * v, Double::sum));
            pass.backward(share == 1 ? loss.total() : loss.total().mul(Tensors.s(share)));
            try (NoGradGuard ng = new NoGradGuard()) {
                sums.ent += share * Tensors.item(Masked.mean(LogProbs.entropy(lp[1].detach()), mask));
                sums.ratio += share * Tensors.item(PpoLoss.meanRatio(lp[0], logpOld, mask));
            }
        }
        return sums;
    }
}
