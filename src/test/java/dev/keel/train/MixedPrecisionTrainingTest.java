package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.data.LmExample;
import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.Compute;
import dev.keel.model.EmbeddedModel;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;

/**
 * {@code --bf16} trains as float32 does: SFT and DPO loss curves of Keel's embedded model (keel-base, pretrained)
 * under bf16 autocast stay within a stated distance of the float32 curves, step by step, with gradient
 * checkpointing on (which changes no gradient, {@code CheckpointingTest}). The suite runs {@code keel.bf16.steps}
 * steps (default 40); {@code -Dkeel.bf16.steps=200} runs the 200-step comparison of README and PERFORMANCE.md.
 */
class MixedPrecisionTrainingTest {
    private static final int STEPS = Integer.getInteger("keel.bf16.steps", 40);
    /** Largest |bf16 loss - f32 loss| allowed at any step, in nats (SFT: per token; DPO: per pair). */
    private static final double SFT_TOLERANCE = 0.02;
    private static final double DPO_TOLERANCE = 0.02;

    @TempDir
    Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void sftLossCurveInBf16FollowsFloat32() {
        List<Double> f32 = sft(false, tmp.resolve("f32"));
        List<Double> bf16 = sft(true, tmp.resolve("bf16"));
        assertClose("sft", f32, bf16, SFT_TOLERANCE);
    }

    @Test
    void dpoLossCurveInBf16FollowsFloat32() {
        List<Double> f32 = dpo(false, tmp.resolve("f32"));
        List<Double> bf16 = dpo(true, tmp.resolve("bf16"));
        assertClose("dpo", f32, bf16, DPO_TOLERANCE);
    }

    private static void assertClose(String what, List<Double> f32, List<Double> bf16, double tol) {
        assertTrue(f32.size() == STEPS && bf16.size() == STEPS, f32.size() + " and " + bf16.size() + " losses");
        double worst = 0;
        for (int i = 0; i < STEPS; i++) {
            worst = Math.max(worst, Math.abs(f32.get(i) - bf16.get(i)));
        }
        System.out.printf("%s over %d steps: f32 %.4f -> %.4f, bf16 %.4f -> %.4f, largest |difference| %.4f%n", what,
                STEPS, f32.get(0), f32.get(STEPS - 1), bf16.get(0), bf16.get(STEPS - 1), worst);
        assertTrue(f32.get(STEPS - 1) < f32.get(0) - 0.05, what + " learns at all: " + f32);
        assertTrue(worst <= tol, what + ": bf16 differs from f32 by " + worst + " > " + tol + "\nf32  " + f32
                + "\nbf16 " + bf16);
    }

    private static TrainConfig train() {
        return TrainConfig.defaults().withMaxSteps(STEPS).withBatchSize(8).withLogEvery(1).withProgress(false);
    }

    private static List<Double> sft(boolean bf16, Path out) {
        Path base = EmbeddedModel.path();
        try (Compute c = Compute.use(bf16, bf16); Tokenizer tok = Tokenizer.load(base)) {
            CausalLM m = ModelFiles.load(base, null, null);
            List<LmExample> data = new ArrayList<>();
            for (String s : TinyModels.sentences()) {
                long[] ids = tok.encode(s, true);
                long[] mask = new long[ids.length];
                java.util.Arrays.fill(mask, 1);
                data.add(new LmExample(data.size(), ids, mask));
            }
            return losses(new TrainingLoop<>(new CausalLMState(m, base), new LmTask(m, 0), OptimConfig.defaults(1e-4),
                    train(), out), data);
        }
    }

    private static List<Double> dpo(boolean bf16, Path out) {
        Path base = EmbeddedModel.path();
        try (Compute c = Compute.use(bf16, bf16); Tokenizer tok = Tokenizer.load(base)) {
            CausalLM m = ModelFiles.load(base, null, null);
            String[] good = {"great", "wonderful", "amazing", "fine"};
            String[] bad = {"terrible", "awful", "boring", "bad"};
            List<PreferencePair> pairs = new ArrayList<>();
            for (String s : TinyModels.sentences()) {
                String prompt = s.substring(0, s.lastIndexOf(' '));
                int k = pairs.size() % good.length;
                pairs.add(new PreferencePair(pairs.size(), tok.encode(prompt, true), tok.encode(" " + good[k] + ".", false),
                        tok.encode(" " + bad[k] + ".", false), 0));
            }
            ReferenceLogps ref = ReferenceLogps.compute(m, pairs, 16, 0);
            return losses(new TrainingLoop<>(new CausalLMState(m, base), new DpoTask(m, 0, DpoConfig.defaults(), ref),
                    OptimConfig.defaults(5e-5), train(), out), pairs);
        }
    }

    private static <T> List<Double> losses(TrainingLoop<T> loop, List<T> data) {
        List<Double> out = new ArrayList<>();
        loop.onInfo(s -> { }).onLog(l -> out.add(((Number) l.get("loss")).doubleValue())).run(data, List.of(), false);
        return out;
    }
}
