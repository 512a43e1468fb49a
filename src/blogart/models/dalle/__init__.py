"""DalleBart and the VQGAN: model code, configs, checkpoint reading and checking, tokenizer text and a
folder's generation config. The samplers and the generator class that use them are in `generators/dalle/`."""
