package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// runCrypt is WXBizMsgCrypt by hand, for people debugging pushes.
func runCrypt(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "decrypt" && args[0] != "encrypt") {
		fmt.Fprintln(stderr, "usage: wxfleet crypt decrypt --token T --aes-key K --appid A --timestamp TS --nonce N --msg-signature S < envelope.xml")
		fmt.Fprintln(stderr, "       wxfleet crypt encrypt --token T --aes-key K --appid A [--timestamp TS] [--nonce N] < message.xml")
		return errUsage
	}
	mode := args[0]
	fs := flag.NewFlagSet("crypt "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	tok := fs.String("token", "", "the platform's message token (消息校验Token)")
	key := fs.String("aes-key", "", "the 43-character EncodingAESKey (消息加解密Key)")
	appid := fs.String("appid", "", "the component appid (receiveid)")
	ts := fs.String("timestamp", "", "the push's timestamp query parameter")
	nonce := fs.String("nonce", "", "the push's nonce query parameter")
	sig := fs.String("msg-signature", "", "the push's msg_signature query parameter")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	required := map[string]string{"--token": *tok, "--aes-key": *key, "--appid": *appid}
	if mode == "decrypt" {
		required["--timestamp"], required["--nonce"], required["--msg-signature"] = *ts, *nonce, *sig
	}
	for _, name := range []string{"--token", "--aes-key", "--appid", "--timestamp", "--nonce", "--msg-signature"} {
		if v, need := required[name]; need && v == "" {
			return fmt.Errorf("crypt %s: %s is required", mode, name)
		}
	}
	c, err := wxcrypt.New(*tok, *key, *appid)
	if err != nil {
		return err
	}
	in, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return err
	}
	if mode == "encrypt" {
		t := time.Now().Unix()
		if *ts != "" {
			if t, err = strconv.ParseInt(*ts, 10, 64); err != nil {
				return fmt.Errorf("--timestamp %q is not unix seconds", *ts)
			}
		}
		if *nonce == "" {
			*nonce = strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
		}
		out, err := c.ReplyEnvelope(in, t, *nonce)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", out)
		return nil
	}
	env, err := wxcrypt.ParseEnvelope(in)
	if err != nil {
		return fmt.Errorf("decrypt failed at step envelope: stdin has no <Encrypt> element")
	}
	plain, err := c.Open(*sig, *ts, *nonce, env.Encrypt)
	if err != nil {
		var we *wxcrypt.Error
		if errors.As(err, &we) {
			return fmt.Errorf("decrypt failed at step %s: %s", we.Step, we.Detail)
		}
		return err
	}
	fmt.Fprintf(stdout, "%s\n", plain)
	return nil
}
