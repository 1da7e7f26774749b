package dev.keel.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.TestSupport;
import dev.keel.TinyModels;
import dev.keel.data.PreferencePair;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.io.ModelFiles;
import dev.keel.tensor.Tensors;
import dev.keel.tokenizer.Tokenizer;

/** A reward model's new head starts as transformers' does: N(0, initializer_range), so the loss starts near ln 2. */
class RewardHeadInitTest {
    @TempDir
    static Path tmp;

    @BeforeAll
    static void natives() {
        TestSupport.init();
    }

    @Test
    void theNewHeadIsDrawnWithTheConfigsInitializerRangeAndTheFirstLossIsNearLn2() {
        Path base = TinyModels.llama(tmp.resolve("base"), 2);       // config.json: initializer_range 0.02
        torch.manual_seed(7);
        CausalLM rm = ModelFiles.load(base, null, null, Head.SCORE);
        float[] w = Tensors.toFloats(rm.weights().get(CausalLM.SCORE));
        double sq = 0;
        for (float v : w) {
            sq += v * v;
        }
        double std = Math.sqrt(sq / w.length);
        assertTrue(std > 0.012 && std < 0.03, "head std " + std + " over " + w.length + " weights, want about 0.02");
        List<PreferencePair> pairs = new ArrayList<>();
        try (Tokenizer tok = Tokenizer.load(base)) {
            for (String s : TinyModels.sentences().subList(0, 16)) {
                int cut = s.lastIndexOf(' ');
                pairs.add(new PreferencePair(pairs.size() + 1, tok.encode(s.substring(0, cut), true),
                        tok.encode(" great.", false), tok.encode(" terrible.", false), 0));
            }
        }
        try (NoGradGuard ng = new NoGradGuard()) {
            double loss = Tensors.item(new RewardTask(rm, 0, 0).forward(pairs).lossSum()) / pairs.size();
            assertEquals(Math.log(2), loss, 0.05, "first Bradley-Terry loss");
        }
    }
}
