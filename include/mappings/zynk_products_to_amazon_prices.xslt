<?xml version="1.0" encoding="UTF-8"?>
<!--
  Zynk XML products (Export Stock Records) to Amazon prices (JSON_LISTINGS_FEED messages).

  One PATCH per product on /attributes/purchasable_offer: our_price value_with_tax in Currency for
  MarketplaceID, audience ALL. Sage's SalePrice is net, so VAT at TaxRate is added (in whole pence,
  rounded half up) unless SalePriceIncludesTax is 'true'. A price of zero or less, or none, is not
  sent: it becomes <rejected>, which the upload step writes to the fail file.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:json="urn:amazon-sage:json">
  <xsl:output method="xml" encoding="utf-8" indent="yes"/>

  <xsl:param name="MerchantID" select="''"/>
  <xsl:param name="MarketplaceID" select="'A1F83G8C2ARO7P'"/>
  <xsl:param name="Currency" select="'GBP'"/>
  <xsl:param name="TaxRate" select="'20'"/>
  <xsl:param name="SalePriceIncludesTax" select="'false'"/>
  <xsl:param name="ProductType" select="'PRODUCT'"/>

  <xsl:template match="/">
    <Feed>
      <xsl:apply-templates select="Company/Products/Product"/>
    </Feed>
  </xsl:template>

  <xsl:template match="Product">
    <xsl:variable name="net-pence" select="round(number(SalePrice) * 100)"/>
    <xsl:variable name="pence">
      <xsl:choose>
        <xsl:when test="$SalePriceIncludesTax = 'true'"><xsl:value-of select="$net-pence"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="round($net-pence * (100 + number($TaxRate)) div 100)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:choose>
      <xsl:when test="string(number($pence)) = 'NaN' or $pence &lt;= 0">
        <rejected sku="{Sku}">Price <xsl:value-of select="SalePrice"/> is not above zero: not sent to Amazon. Set a sales price in Sage.</rejected>
      </xsl:when>
      <xsl:otherwise>
        <message>
          <sku><xsl:value-of select="Sku"/></sku>
          <operationType>PATCH</operationType>
          <productType><xsl:value-of select="$ProductType"/></productType>
          <patches json:array="true">
            <op>merge</op>
            <path>/attributes/purchasable_offer</path>
            <value json:array="true">
              <marketplace_id><xsl:value-of select="$MarketplaceID"/></marketplace_id>
              <currency><xsl:value-of select="$Currency"/></currency>
              <audience>ALL</audience>
              <our_price json:array="true">
                <schedule json:array="true">
                  <value_with_tax json:type="number"><xsl:value-of select="format-number($pence div 100, '0.00')"/></value_with_tax>
                </schedule>
              </our_price>
            </value>
          </patches>
        </message>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
