--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: card_updates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.card_updates (
    account text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    seq bigint NOT NULL,
    record bytea NOT NULL
);


--
-- Name: cards; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cards (
    account text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    fingerprint text COLLATE pg_catalog."C",
    record bytea NOT NULL
);


--
-- Name: clients; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.clients (
    id text NOT NULL COLLATE pg_catalog."C",
    record bytea NOT NULL
);


--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    key text NOT NULL,
    value bytea NOT NULL
);


--
-- Name: records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.records (
    alias text NOT NULL COLLATE pg_catalog."C",
    index_key bytea,
    format text NOT NULL,
    storage text NOT NULL,
    key_version bigint NOT NULL,
    ciphertext bytea NOT NULL,
    classifiers jsonb DEFAULT '[]'::jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Data for Name: card_updates; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: cards; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.cards VALUES ('acct_1', 'CRDLVeoFGNdyTxvZg4wiTAcfg', 'DjfaCs4twFJbb4nxNVvQE28o195TxC5MckKiGWipSdGe', '\x7b226964223a224352444c56656f46474e64795478765a673477695441636667222c2270616e5f616c696173223a22746f6b5f73616e64626f785f534d483642737275466473544b7577435a5068513938222c226376635f616c696173223a22746f6b5f73616e64626f785f5243424b363642513575507939554841355073435831222c2262696e223a22333738323832222c22666972737438223a22333738323832222c226c61737434223a2230303035222c226272616e64223a22414d4558222c2274797065223a22435245444954222c2266696e6765727072696e74223a22446a66614373347477464a6262346e784e5676514532386f313935547843354d636b4b694757697053644765222c226578705f6d6f6e7468223a31322c226578705f79656172223a323034302c22637265617465645f6174223a22323032362d31322d30355432323a35343a31315a222c22757064617465645f6174223a22323032362d31322d30355432323a35343a31315a227d');


--
-- Data for Name: clients; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.clients VALUES ('ACLFN8KMrqVdBMutGboqXgLo', '\x7b2276223a312c226964223a2241434c464e384b4d72715664424d757447626f7158674c6f222c226e616d65223a22617069222c226163636f756e74223a22616363745f31222c2273636f706573223a5b22616c69617365733a7772697465222c22616c69617365733a72657665616c225d2c22706369223a66616c73652c226f7574626f756e64223a66616c73652c22637265617465645f6174223a22323032362d31322d30355432323a35343a31315a222c2273616c74223a22495758443261334f7a524f66766f3967364c4f3036673d3d222c2268617368223a226934795146422f675452366c6373417961713970585638323461323747637956327343323076574652554d3d227d');
INSERT INTO public.clients VALUES ('AC65J4VodkWENZFsZ764p3D1', '\x7b2276223a312c226964223a22414336354a34566f646b57454e5a46735a37363470334431222c226e616d65223a22706369222c226163636f756e74223a22616363745f31222c2273636f706573223a5b2263617264733a72656164222c2263617264733a7772697465222c226e6574776f726b2d746f6b656e733a7772697465225d2c22706369223a747275652c226f7574626f756e64223a66616c73652c22637265617465645f6174223a22323032362d31322d30355432323a35343a31315a222c2273616c74223a224a703259343475306e49532f6e7049306b65526a51513d3d222c2268617368223a226d626c3257614e696d3251524265357176517774495035397769787771464247572b65576d434c313873453d227d');
INSERT INTO public.clients VALUES ('ACXveryanCPpTES8L2zf8Fje', '\x7b2276223a312c226964223a2241435876657279616e435070544553384c327a6638466a65222c226e616d65223a226261636b656e64222c226163636f756e74223a22616363745f31222c2273636f706573223a5b5d2c22706369223a66616c73652c226f7574626f756e64223a747275652c22637265617465645f6174223a22323032362d31322d30355432323a35343a31315a222c2273616c74223a2254504330614a47583154704872724c6a63654b7533773d3d222c2268617368223a2234523946656a49434c6e724b434457712b396a753369516c4b564651564b342b765044764133386c6c2f773d227d');


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('dek/current', '\x31');
INSERT INTO public.meta VALUES ('dek/1', '\x302bb2ae6631e8a185cba191120b1ec83f6d1cf6ac1b575860543965a741b68feb1d4fdb8aeb8ecb55226d18fb87ecf9796b0807f924008a0c4739d9');


--
-- Data for Name: records; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.records VALUES ('tok_sandbox_Abc7iAYu5r8npQju638hxM', '\x5ca7834a0d79c30ea830e73e27b97748a79675078ed0fcfdfc644e5146999fef', 'UUID', 'PERSISTENT', 1, '\x6375dc98b0872d4785abb9c30df789f1f42168d41a8f1f4210f95e679262cff12d6a1ffba3db5f4930c7a554', '[]', '2026-12-05 22:54:11.721243+00', NULL);
INSERT INTO public.records VALUES ('4111112952941111', '\xa25eb92f61600fd795cd5893e691f73a5dbf22ad8282d7b83cddbbe9e938fbb0', 'FPE_SIX_T_FOUR', 'PERSISTENT', 1, '\x9490cc2dc1def338f8665d89383f175a6dcee9804cf750b97c4cff1cdb5b27804abce012c69c84712cb4e0eb', '["pan"]', '2026-12-05 22:54:11.721243+00', NULL);
INSERT INTO public.records VALUES ('tok_sandbox_SMH6BsruFdsTKuwCZPhQ98', '\x3112a3eab987070127ef3953ad6b02414fef32134fa255db00e89b37576cc50a', 'UUID', 'PERSISTENT', 1, '\xb96949ba038adde0fdbd9f735a71cbd8c71780c253b84cc9d75949d312548caaa37aa45bc5148ba73d472d', '[]', '2026-12-05 22:54:11.727094+00', NULL);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (0, 'lock', '2026-12-05 22:54:11.667689+00');
INSERT INTO public.schema_migrations VALUES (1, 'init', '2026-12-05 22:54:11.668324+00');


--
-- Name: card_updates card_updates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.card_updates
    ADD CONSTRAINT card_updates_pkey PRIMARY KEY (account, id, seq);


--
-- Name: cards cards_account_fingerprint_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_account_fingerprint_key UNIQUE (account, fingerprint);


--
-- Name: cards cards_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_pkey PRIMARY KEY (account, id);


--
-- Name: clients clients_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: records records_index_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.records
    ADD CONSTRAINT records_index_key_key UNIQUE (index_key);


--
-- Name: records records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.records
    ADD CONSTRAINT records_pkey PRIMARY KEY (alias);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: records_expires_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX records_expires_at ON public.records USING btree (expires_at) WHERE (expires_at IS NOT NULL);


--
-- Name: card_updates card_updates_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.card_updates
    ADD CONSTRAINT card_updates_account_id_fkey FOREIGN KEY (account, id) REFERENCES public.cards(account, id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


