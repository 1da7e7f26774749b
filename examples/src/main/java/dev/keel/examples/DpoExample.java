package dev.keel.examples;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import dev.keel.data.PreferenceData;
import dev.keel.data.PreferencePair;
import dev.keel.data.Truncation;
import dev.keel.generate.BatchGenerator;
import dev.keel.generate.Generation;
import dev.keel.generate.SamplingConfig;
import dev.keel.generate.StopCriterion;
import dev.keel.model.CausalLM;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.DpoConfig;
import dev.keel.train.DpoTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.ReferenceLogps;
import dev.keel.train.TrainConfig;
import dev.keel.train.TrainingLoop;

/**
 * Keel as a library: load a Hugging Face model folder, train it with DPO on a JSONL file of
 * {"prompt", "chosen", "rejected"} records, save it, and sample from the result.
 *
 * <pre>java dev.keel.examples.DpoExample MODEL_DIR PAIRS.jsonl OUT_DIR [PROMPT]</pre>
 */
public final class DpoExample {
    public static void main(String[] args) {
        Path modelDir = Path.of(args[0]);
        Path pairsFile = Path.of(args[1]);
        Path out = Path.of(args[2]);
        String prompt = args.length > 3 ? args[3] : "The movie was";

        CausalLM policy = ModelFiles.load(modelDir, null, null);               // float32, CPU
        try (Tokenizer tok = Tokenizer.load(modelDir)) {
            long pad = tok.padId() != null ? tok.padId() : 0;
            List<PreferencePair> pairs = PreferenceData.read(pairsFile, tok, null, policy.config().vocabSize(),
                    256, 128, Truncation.KEEP_START).pairs();

            // the reference is the starting model: its log-probs, once, before the first step
            DpoConfig dpo = DpoConfig.defaults().withBeta(0.1);
            ReferenceLogps reference = ReferenceLogps.compute(policy, pairs, 16, pad);
            TrainingLoop.Result r = new TrainingLoop<>(new CausalLMState(policy, modelDir),
                    new DpoTask(policy, pad, dpo, reference), OptimConfig.defaults(3e-3),
                    TrainConfig.defaults().withEpochs(2).withBatchSize(8).withLogEvery(5), out)
                    .run(pairs, List.of(), false);                             // writes the model and metrics.jsonl
            System.out.println("trained " + r.steps() + " steps; last metrics " + r.lastLog());

            Set<Long> eos = tok.eosId() != null ? Set.of(tok.eosId()) : Set.of();
            SamplingConfig sampling = new SamplingConfig(12, 0.7, 0, 1.0, 1, eos, true);
            Generation g = BatchGenerator.generate(policy, List.of(tok.encode(prompt, true)), sampling,
                    StopCriterion.NEVER, pad);
            System.out.println("sample: " + prompt + tok.decode(g.tokens().get(0), true));
        }
    }
}
